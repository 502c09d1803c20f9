//! The frame codec and every message a peer sends: the first byte picks the
//! message type, the rest is a frame body (and, framed, a whole stream).
//! Whatever decodes must encode again, to the same bytes the second time.
#![no_main]

use common::codec;
use common::protocol::{
    DriverRequest, DriverResponse, NmRequest, NmResponse, RmRequest, RmResponse, ShuffleRequest,
    ShuffleResponse,
};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;

thread_local! {
    static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
}

fn check<T: DeserializeOwned + Serialize>(data: &[u8]) {
    if let Ok(msg) = codec::decode::<T>(data) {
        let frame = codec::encode(&msg).expect("a decoded message encodes");
        let back: T = codec::decode(&frame[4..]).expect("an encoded message decodes");
        assert_eq!(codec::encode(&back).expect("encodes"), frame, "unstable encoding");
    }
    // The stream reader: length prefix, cap, truncation, then the body.
    RT.with(|rt| {
        let _ = rt.block_on(codec::read_frame::<_, T>(&mut &data[..]));
        let _ = rt.block_on(codec::read_frame_capped::<_, T>(&mut &data[..], 64));
    });
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 8 {
        0 => check::<RmRequest>(rest),
        1 => check::<RmResponse>(rest),
        2 => check::<NmRequest>(rest),
        3 => check::<NmResponse>(rest),
        4 => check::<DriverRequest>(rest),
        5 => check::<DriverResponse>(rest),
        6 => check::<ShuffleRequest>(rest),
        _ => check::<ShuffleResponse>(rest),
    }
});
