//! red5-media: placeholder until its issue lands.
