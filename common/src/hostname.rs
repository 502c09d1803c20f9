//! The name this host is reached at: what daemons advertise and put in node ids.

use std::net::SocketAddr;

/// This host's name from `/etc/hostname`, or `localhost` where it names none.
pub fn this_host() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The host others reach a listener bound to `addr` at: `configured` when set; this
/// host's name when it listens on every interface (an unspecified address is no
/// destination); else the address it is bound to.
pub fn advertised(addr: SocketAddr, configured: &str) -> String {
    if !configured.is_empty() {
        configured.to_owned()
    } else if addr.ip().is_unspecified() {
        this_host()
    } else {
        addr.ip().to_string()
    }
}

/// The `host:port` others reach a listener bound to `addr` at ([`advertised`] and its port).
pub fn advertised_address(addr: SocketAddr, configured: &str) -> String {
    host_port(&advertised(addr, configured), addr.port())
}

/// `host:port`, with an IPv6 address in brackets (`[::1]:8041`).
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_is_advertised_by_its_configured_name_its_hosts_or_its_address() {
        let any: SocketAddr = "0.0.0.0:8041".parse().unwrap();
        let lo: SocketAddr = "127.0.0.1:8041".parse().unwrap();
        assert_eq!(advertised(any, "nm1.example"), "nm1.example");
        assert_eq!(advertised(lo, ""), "127.0.0.1");
        assert_eq!(advertised(any, ""), this_host());
        assert!(!this_host().is_empty());
        assert_eq!(host_port("::1", 8041), "[::1]:8041");
        assert_eq!(host_port("nm1", 8041), "nm1:8041");
        let v6: SocketAddr = "[::1]:8032".parse().unwrap();
        assert_eq!(advertised_address(v6, ""), "[::1]:8032");
        assert_eq!(advertised_address(lo, "rm.example"), "rm.example:8041");
    }
}
