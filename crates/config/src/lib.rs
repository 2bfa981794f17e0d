//! red5-config: placeholder until its issue lands.
