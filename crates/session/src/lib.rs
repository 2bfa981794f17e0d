//! red5-session: placeholder until its issue lands.
