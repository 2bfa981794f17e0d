//! red5-localsm: placeholder until its issue lands.
