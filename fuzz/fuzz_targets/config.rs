//! The config files: the RM's, the NM's, the shuffle service's and the clients'
//! `spindle-client.toml`. The first byte picks which; the rest is the file's text.
//! Parsing and validating never panic, and a valid file's every key is known.
#![no_main]

use daemon::config::DaemonConfig;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fn check<C: DaemonConfig>(text: &str) {
    let path = Path::new("fuzz.toml");
    if let Ok(c) = C::parse(path, text) {
        let _ = c.validate(path);
        let _ = c.changed_keys(&C::default());
        let _ = c.liveness();
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match which % 4 {
        0 => check::<resourcemanager::RmConfig>(text),
        1 => check::<nodemanager::NmConfig>(text),
        2 => check::<shuffle_service::ShuffleServiceConfig>(text),
        _ => {
            let _ = common::clientconf::ClientConf::parse(Path::new("fuzz"), text);
        }
    }
});
