//! Which local account a container runs as, and the switch to it in the child.
//!
//! When the NM runs as root, each container runs as its application's user, as
//! YARN's LinuxContainerExecutor does: the account is looked up at launch
//! (`getpwnam_r`, `getgrouplist`); a user with no local account, or one below
//! `min-user-id` (root, system accounts such as the daemons' own), runs as
//! `nobody` (YARN's non-secure mode), unless `refuse-unknown-users` is set. An
//! operator's `user-map` names the account for a user outright (`spindle cluster up`
//! maps the cluster's own user to whoever started it). The decisions are
//! [`map_user`] and [`mapped_user`], pure functions; the lookups and the switch are
//! the I/O around them. An NM that is not root runs containers as itself.

use std::collections::BTreeMap;
use std::ffi::CString;

/// A local account, with what a process needs to become it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (the primary one included).
    pub groups: Vec<u32>,
}

impl Account {
    /// `nobody`'s well-known ids, when the host has no such account.
    pub fn nobody_fallback() -> Self {
        Self {
            name: "nobody".into(),
            uid: 65534,
            gid: 65534,
            groups: vec![65534],
        }
    }
}

/// How application users map to accounts (`refuse-unknown-users`, `min-user-id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserPolicy {
    pub refuse_unknown: bool,
    pub min_uid: u32,
}

/// A user whose containers this node will not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UserRefused {
    #[error("user {user:?} has no local account on this node (refuse-unknown-users = true)")]
    NoAccount { user: String },
    #[error(
        "user {user:?} is a system account here (uid {uid} below min-user-id {min_uid}; \
         refuse-unknown-users = true)"
    )]
    SystemAccount {
        user: String,
        uid: u32,
        min_uid: u32,
    },
    #[error("user {user:?} maps to account {account:?} (user-map), which this node does not have")]
    MappedAccountMissing { user: String, account: String },
}

/// The account `user`'s containers run as, given what the lookup `found`: its own
/// account when it has one at or above `min_uid`; otherwise `nobody`, or a refusal
/// when the policy refuses unknown users.
pub fn map_user(
    user: &str,
    found: Option<Account>,
    nobody: &Account,
    policy: UserPolicy,
) -> Result<Account, UserRefused> {
    match found {
        Some(a) if a.uid >= policy.min_uid => Ok(a),
        _ if !policy.refuse_unknown => Ok(nobody.clone()),
        Some(a) => Err(UserRefused::SystemAccount {
            user: user.to_string(),
            uid: a.uid,
            min_uid: policy.min_uid,
        }),
        None => Err(UserRefused::NoAccount {
            user: user.to_string(),
        }),
    }
}

/// The account a `user-map` entry names for `user`: whatever the operator chose, root
/// included (`min-user-id` guards against accidents, not against the operator), but it
/// must exist.
pub fn mapped_user(
    user: &str,
    account: &str,
    found: Option<Account>,
) -> Result<Account, UserRefused> {
    found.ok_or_else(|| UserRefused::MappedAccountMissing {
        user: user.to_string(),
        account: account.to_string(),
    })
}

/// Looks `name` up in the host's account database, with its groups.
pub fn lookup(name: &str) -> Option<Account> {
    let cname = CString::new(name).ok()?;
    let mut buf: Vec<libc::c_char> = vec![0; 1024];
    loop {
        // SAFETY: an all-zero passwd is a valid value to be filled in.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; buf outlives the use of pwd's fields.
        let rc = unsafe {
            libc::getpwnam_r(
                cname.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        let (uid, gid) = (pwd.pw_uid, pwd.pw_gid);
        return Some(Account {
            name: name.to_string(),
            uid,
            gid,
            groups: groups_of(&cname, gid),
        });
    }
}

/// The groups `name` is in (`getgrouplist`), its primary group `gid` first.
fn groups_of(name: &CString, gid: u32) -> Vec<u32> {
    let mut n: libc::c_int = 16;
    loop {
        let mut groups: Vec<libc::gid_t> = vec![0; n as usize];
        let asked = n;
        // SAFETY: groups holds n entries; getgrouplist writes at most n and sets n.
        let rc = unsafe { libc::getgrouplist(name.as_ptr(), gid, groups.as_mut_ptr(), &mut n) };
        if rc >= 0 {
            groups.truncate(n.max(0) as usize);
            if !groups.contains(&gid) {
                groups.insert(0, gid);
            }
            return groups;
        }
        if n <= asked {
            n = asked * 2;
        }
        if n > 65536 {
            return vec![gid];
        }
    }
}

/// Who containers run as on this node.
#[derive(Debug, Clone)]
pub struct Users {
    /// The NM is root: containers switch to their account.
    switch: bool,
    policy: UserPolicy,
    nobody: Account,
    /// `user-map`: cluster user → local account.
    map: BTreeMap<String, String>,
}

impl Users {
    /// Switching when this process runs as root.
    pub fn new(policy: UserPolicy) -> Self {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        Self::with(root, policy)
    }

    /// As [`Self::new`] with the switch decided by the caller.
    pub fn with(switch: bool, policy: UserPolicy) -> Self {
        Self {
            switch,
            policy,
            nobody: lookup("nobody").unwrap_or_else(Account::nobody_fallback),
            map: BTreeMap::new(),
        }
    }

    /// With the operator's `user-map`.
    pub fn mapping(mut self, map: BTreeMap<String, String>) -> Self {
        self.map = map;
        self
    }

    /// True when containers run as their users (the NM is root).
    pub fn switching(&self) -> bool {
        self.switch
    }

    /// The account `user`'s container runs as; `None`: as the NM itself.
    pub fn resolve(&self, user: &str) -> Result<Option<Account>, UserRefused> {
        if !self.switch {
            return Ok(None);
        }
        if let Some(account) = self.map.get(user) {
            return mapped_user(user, account, lookup(account)).map(Some);
        }
        map_user(user, lookup(user), &self.nobody, self.policy).map(Some)
    }
}

/// What the child needs to become an account, ready before the fork.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    uid: libc::uid_t,
    gid: libc::gid_t,
    groups: Vec<libc::gid_t>,
}

impl Credentials {
    pub(crate) fn of(a: &Account) -> Self {
        Self {
            uid: a.uid,
            gid: a.gid,
            groups: a.groups.clone(),
        }
    }

    /// Drops to the account: groups, then gid, then uid (after which nothing can be
    /// regained). Runs in the child between fork and exec: async-signal-safe calls only,
    /// no allocation.
    pub(crate) fn assume(&self) -> std::io::Result<()> {
        // SAFETY: plain system calls on owned, initialized data.
        unsafe {
            if libc::setgroups(self.groups.len(), self.groups.as_ptr()) != 0
                || libc::setgid(self.gid) != 0
                || libc::setuid(self.uid) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(name: &str, uid: u32) -> Account {
        Account {
            name: name.into(),
            uid,
            gid: uid,
            groups: vec![uid],
        }
    }

    const OPEN: UserPolicy = UserPolicy {
        refuse_unknown: false,
        min_uid: 1000,
    };
    const STRICT: UserPolicy = UserPolicy {
        refuse_unknown: true,
        min_uid: 1000,
    };

    #[test]
    fn a_user_with_an_account_runs_as_itself() {
        let nobody = Account::nobody_fallback();
        let alice = account("alice", 1001);
        for policy in [OPEN, STRICT] {
            assert_eq!(
                map_user("alice", Some(alice.clone()), &nobody, policy),
                Ok(alice.clone())
            );
        }
    }

    #[test]
    fn unknown_and_system_users_run_as_nobody_unless_refused() {
        let nobody = Account::nobody_fallback();
        assert_eq!(map_user("spindle", None, &nobody, OPEN), Ok(nobody.clone()));
        // root and system accounts never run containers.
        for a in [account("root", 0), account("spindle", 998)] {
            assert_eq!(
                map_user(&a.name.clone(), Some(a), &nobody, OPEN),
                Ok(nobody.clone())
            );
        }
        let e = map_user("spindle", None, &nobody, STRICT).unwrap_err();
        assert_eq!(
            e.to_string(),
            "user \"spindle\" has no local account on this node (refuse-unknown-users = true)"
        );
        let e = map_user("root", Some(account("root", 0)), &nobody, STRICT).unwrap_err();
        assert_eq!(
            e,
            UserRefused::SystemAccount {
                user: "root".into(),
                uid: 0,
                min_uid: 1000
            }
        );
        assert!(e.to_string().contains("\"root\""), "{e}");
    }

    #[test]
    fn a_mapped_user_runs_as_the_named_account_even_root_but_it_must_exist() {
        let root = account("root", 0);
        assert_eq!(mapped_user("spindle", "root", Some(root.clone())), Ok(root));
        let e = mapped_user("spindle", "ghost", None).unwrap_err();
        assert!(e.to_string().contains("\"ghost\""), "{e}");
        // Through the switch: the map wins over the user's own (missing) account.
        let users = Users::with(true, STRICT).mapping(BTreeMap::from([(
            "no-such-cluster-user".to_string(),
            "root".to_string(),
        )]));
        assert_eq!(
            users.resolve("no-such-cluster-user").unwrap().unwrap().uid,
            0
        );
        assert!(users.resolve("another-unknown-user").is_err());
    }

    #[test]
    fn lookups_find_root_and_not_a_made_up_name() {
        let root = lookup("root").expect("root has an account");
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(root.groups.contains(&0), "{root:?}");
        assert_eq!(lookup("no-such-user-spindle-test"), None);
        assert_eq!(lookup("bad\0name"), None);
    }

    #[test]
    fn an_nm_that_is_not_root_runs_containers_as_itself() {
        let users = Users::with(false, STRICT);
        assert!(!users.switching());
        assert_eq!(users.resolve("anyone-at-all"), Ok(None));
        let users = Users::with(true, OPEN);
        assert_eq!(
            users
                .resolve("no-such-user-spindle-test")
                .unwrap()
                .map(|a| a.uid),
            Some(users.nobody.uid)
        );
    }
}
