//! What travels inside messages and is decoded on its own: task results and errors
//! (driver), stage specs (executors), the Spark properties handed to containers, and
//! the ids and block names peers spell as text.
#![no_main]

use am_core::plan::{StageSpec, TaskError, TaskOutput};
use am_core::sparkconf::SparkConf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = postcard::from_bytes::<TaskOutput>(data);
    let _ = postcard::from_bytes::<TaskError>(data);
    if let Ok(spec) = postcard::from_bytes::<StageSpec>(data) {
        let bytes = postcard::to_stdvec(&spec).expect("a decoded spec encodes");
        let back: StageSpec = postcard::from_bytes(&bytes).expect("and decodes");
        assert_eq!(postcard::to_stdvec(&back).expect("encodes"), bytes);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = SparkConf::from_json(text, "fuzz");
        let _ = text.parse::<common::ApplicationId>();
        let _ = text.parse::<common::AppAttemptId>();
        let _ = text.parse::<common::ContainerId>();
        let _ = text.parse::<common::protocol::YarnApplicationState>();
        let _ = text.parse::<shuffle_service::BlockId>();
    }
});
