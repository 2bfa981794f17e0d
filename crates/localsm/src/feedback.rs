//! Lets subscribers' key-frame requests (PLI/FIR) reach the SFU.
//!
//! webrtc-rs 0.21 ends every interceptor chain with a terminus that drops inbound RTCP unless an
//! interceptor marks it `DeliverToApplication`, and none of the default ones marks PLI/FIR. So a
//! subscriber's PLI never surfaced on `TrackLocal::poll` and a viewer waited for the next
//! periodic key frame. This interceptor marks them. Each PLI/FIR travels as its own packet
//! because webrtc-rs routes a compound packet by its first packet's SSRC (often a receiver
//! report about another track).

use std::collections::VecDeque;
use std::time::Instant;

use rtc::interceptor::{
    Attribute, AttributedPacket, Interceptor, Packet, StreamInfo, TaggedPacket,
};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use rtc::shared::TransportMessage;

/// Closest to the application: after every default interceptor has seen the packet.
pub const SLOT: usize = 20_000;

#[derive(Default)]
pub struct KeyframeFeedback {
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

fn is_key_request(p: &dyn rtc::rtcp::Packet) -> bool {
    p.as_any().downcast_ref::<PictureLossIndication>().is_some()
        || p.as_any().downcast_ref::<FullIntraRequest>().is_some()
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeFeedback {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        let TransportMessage {
            now,
            transport,
            message,
        } = msg;
        let AttributedPacket { attributes, packet } = message;
        let Packet::Rtcp(pkts) = packet else {
            self.read_queue.push_back(TransportMessage {
                now,
                transport,
                message: AttributedPacket { attributes, packet },
            });
            return Ok(());
        };
        let (keys, rest): (Vec<_>, Vec<_>) = pkts.into_iter().partition(|p| is_key_request(&**p));
        if !rest.is_empty() {
            let mut m = AttributedPacket::new(Packet::Rtcp(rest));
            m.attributes = attributes;
            self.read_queue.push_back(TransportMessage {
                now,
                transport,
                message: m,
            });
        }
        for k in keys {
            self.read_queue.push_back(TransportMessage {
                now,
                transport,
                message: AttributedPacket::new(Packet::Rtcp(vec![k]))
                    .with(Attribute::DeliverToApplication),
            });
        }
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write_queue.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }
}

impl Interceptor for KeyframeFeedback {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}
