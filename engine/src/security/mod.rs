//! Authentication and authorization: ACL users (loaded from `aclfile`, changed with `ACL SETUSER`), the
//! default user that `requirepass` configures, and the ACL LOG of denied attempts.

pub mod acl;
pub mod tls;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

pub use acl::User;

/// Failed AUTH attempts a connection may make before it is disconnected.
pub const MAX_AUTH_FAILURES: u32 = 10;
const LOG_LEN: usize = 128;

/// One ACL LOG entry.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// Times this same denial repeated.
    pub count: u64,
    /// `auth`, `command`, `key` or `channel`.
    pub reason: String,
    /// `toplevel` or `multi`.
    pub context: String,
    /// The command, key or channel denied.
    pub object: String,
    /// The user.
    pub username: String,
    /// Unix ms of the first occurrence.
    pub created_ms: u64,
    /// Unix ms of the last occurrence.
    pub updated_ms: u64,
    /// Client description.
    pub client: String,
    /// Increasing id.
    pub id: u64,
}

/// The users of a node.
#[derive(Debug, Default)]
pub struct Acl {
    users: RwLock<BTreeMap<String, Arc<User>>>,
    /// Bumped on every change, so sessions refresh their user.
    pub version: AtomicU64,
    log: Mutex<VecDeque<LogEntry>>,
    next_log_id: AtomicU64,
    /// Failed AUTH attempts since start.
    pub auth_failures: AtomicU64,
    /// `acllog-max-len`, once set (the default is 128).
    log_len: std::sync::atomic::AtomicUsize,
    /// `acl-pubsub-default allchannels`: new users start with every channel.
    all_channels_default: std::sync::atomic::AtomicBool,
}

impl Acl {
    /// Users from an ACL file's text (plus a default user if the file has none), or just the default user
    /// configured with `requirepass`.
    pub fn new(file_users: Option<BTreeMap<String, User>>, requirepass: Option<&str>) -> Acl {
        let acl = Acl::default();
        acl.log_len.store(LOG_LEN, Ordering::Relaxed);
        let mut users: BTreeMap<String, Arc<User>> = file_users
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, Arc::new(v)))
            .collect();
        if !users.contains_key("default") {
            users.insert("default".into(), Arc::new(default_with(requirepass)));
        }
        *acl.users.write() = users;
        acl
    }

    /// A user by name.
    pub fn get(&self, name: &str) -> Option<Arc<User>> {
        self.users.read().get(name).cloned()
    }

    /// True when anyone may connect as the default user without a password (protected mode applies).
    pub fn default_needs_no_password(&self) -> bool {
        self.users.read().get("default").is_some_and(|u| u.nopass)
    }

    /// All users, by name.
    pub fn all(&self) -> Vec<Arc<User>> {
        self.users.read().values().cloned().collect()
    }

    /// Checks a name/password pair.
    pub fn authenticate(&self, name: &str, password: &[u8]) -> Option<Arc<User>> {
        self.get(name).filter(|u| u.check_password(password))
    }

    /// Follows `acllog-max-len` and `acl-pubsub-default`.
    pub fn set_tunables(&self, log_len: usize, all_channels_default: bool) {
        self.log_len.store(log_len, Ordering::Relaxed);
        self.all_channels_default
            .store(all_channels_default, Ordering::Relaxed);
        self.log.lock().truncate(log_len);
    }

    fn log_len(&self) -> usize {
        self.log_len.load(Ordering::Relaxed)
    }

    /// Creates or modifies a user (ACL SETUSER): all rules apply or none.
    pub fn set_user(&self, name: &str, rules: &[String]) -> Result<(), acl::RuleError> {
        let mut users = self.users.write();
        let mut user = users.get(name).map_or_else(
            || {
                let mut u = User::new(name);
                if self.all_channels_default.load(Ordering::Relaxed) {
                    let _ = u.apply("allchannels");
                }
                u
            },
            |u| (**u).clone(),
        );
        user.apply_all(rules.iter().map(String::as_str))?;
        users.insert(name.to_string(), Arc::new(user));
        self.version.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Deletes users; returns how many existed. The default user cannot be deleted.
    pub fn del_users(&self, names: &[String]) -> Result<usize, String> {
        if names.iter().any(|n| n == "default") {
            return Err("The 'default' user cannot be removed".into());
        }
        let mut users = self.users.write();
        let n = names.iter().filter(|n| users.remove(*n).is_some()).count();
        self.version.fetch_add(1, Ordering::Relaxed);
        Ok(n)
    }

    /// Replaces every user (ACL LOAD, CONFIG SET requirepass).
    pub fn replace(&self, users: BTreeMap<String, User>, requirepass: Option<&str>) {
        let mut map: BTreeMap<String, Arc<User>> =
            users.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
        map.entry("default".into())
            .or_insert_with(|| Arc::new(default_with(requirepass)));
        *self.users.write() = map;
        self.version.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the default user's password the way `requirepass` does.
    pub fn set_requirepass(&self, requirepass: Option<&str>) {
        let mut users = self.users.write();
        let mut user = users
            .get("default")
            .map_or_else(User::default_user, |u| (**u).clone());
        let _ = user.apply("resetpass");
        match requirepass {
            Some(p) => {
                let _ = user.apply(&format!(">{p}"));
            }
            None => {
                let _ = user.apply("nopass");
            }
        }
        users.insert("default".into(), Arc::new(user));
        self.version.fetch_add(1, Ordering::Relaxed);
    }

    /// The ACL file text of the current users.
    pub fn file_text(&self) -> String {
        self.all().iter().map(|u| u.describe() + "\n").collect()
    }

    /// Records a denial (repeated identical denials are counted in one entry).
    pub fn log(
        &self,
        reason: &str,
        context: &str,
        object: &str,
        username: &str,
        client: &str,
        now_ms: u64,
    ) {
        let mut log = self.log.lock();
        if let Some(e) = log.iter_mut().find(|e| {
            e.reason == reason
                && e.context == context
                && e.object == object
                && e.username == username
        }) {
            e.count += 1;
            e.updated_ms = now_ms;
            e.client = client.into();
            return;
        }
        log.push_front(LogEntry {
            count: 1,
            reason: reason.into(),
            context: context.into(),
            object: object.into(),
            username: username.into(),
            created_ms: now_ms,
            updated_ms: now_ms,
            client: client.into(),
            id: self.next_log_id.fetch_add(1, Ordering::Relaxed),
        });
        log.truncate(self.log_len());
    }

    /// The `n` most recent log entries.
    pub fn log_entries(&self, n: usize) -> Vec<LogEntry> {
        self.log.lock().iter().take(n).cloned().collect()
    }

    /// Clears the log.
    pub fn reset_log(&self) {
        self.log.lock().clear();
    }
}

fn default_with(requirepass: Option<&str>) -> User {
    let mut u = User::default_user();
    if let Some(p) = requirepass {
        let _ = u.apply("resetpass");
        let _ = u.apply(&format!(">{p}"));
    }
    u
}
