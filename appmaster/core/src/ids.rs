//! The application's ids, one type and one width each: jobs, stages, shuffles, RDDs and
//! tasks are numbers, executors are names (Spark's executor ids are strings).
//!
//! They serialize as the bare number or string (`#[serde(transparent)]`), so the event
//! log, the simulator's traces and what travels to executors keep their formats. The wire
//! messages in `common::protocol` stay primitive; the shell converts at that boundary.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

macro_rules! numeric_id {
    ($(#[$doc:meta])* $name:ident($int:ty)) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub $int);

        impl $name {
            /// The bare number.
            pub const fn get(self) -> $int {
                self.0
            }

            /// The id after this one (ids are handed out in order).
            pub const fn next(self) -> Self {
                Self(self.0 + 1)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl From<$int> for $name {
            fn from(v: $int) -> Self {
                Self(v)
            }
        }

        impl From<$name> for $int {
            fn from(v: $name) -> Self {
                v.0
            }
        }
    };
}

numeric_id!(
    /// A job: one action of the user's code.
    JobId(u32)
);
numeric_id!(
    /// A stage: the tasks of one job between shuffle boundaries.
    StageId(u32)
);
numeric_id!(
    /// A shuffle: the map outputs one shuffle dependency writes.
    ShuffleId(u32)
);
numeric_id!(
    /// An RDD (only cached RDDs are named in plans).
    RddId(u32)
);
numeric_id!(
    /// A task attempt, unique within the application.
    TaskId(u64)
);

/// An executor, by name (`"1"`, `"2"`, ... in the order their containers arrived).
/// Cheap to clone; ordered, compared and hashed as its string.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExecutorId(Arc<str>);

impl ExecutorId {
    pub fn new(id: &str) -> Self {
        Self(Arc::from(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ExecutorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for ExecutorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Default for ExecutorId {
    fn default() -> Self {
        Self::new("")
    }
}

impl From<&str> for ExecutorId {
    fn from(id: &str) -> Self {
        Self::new(id)
    }
}

impl From<String> for ExecutorId {
    fn from(id: String) -> Self {
        Self(Arc::from(id))
    }
}

impl From<&String> for ExecutorId {
    fn from(id: &String) -> Self {
        Self::new(id)
    }
}

impl From<ExecutorId> for String {
    fn from(id: ExecutorId) -> Self {
        id.0.as_ref().to_owned()
    }
}

impl Borrow<str> for ExecutorId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ExecutorId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for ExecutorId {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for ExecutorId {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for ExecutorId {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl Serialize for ExecutorId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ExecutorId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn ids_serialize_as_bare_values() {
        assert_eq!(serde_json::to_string(&StageId(7)).unwrap(), "7");
        assert_eq!(
            serde_json::to_string(&TaskId(1 << 40)).unwrap(),
            "1099511627776"
        );
        assert_eq!(
            serde_json::to_string(&ExecutorId::from("12")).unwrap(),
            "\"12\""
        );
        let m: BTreeMap<ShuffleId, ExecutorId> = [(ShuffleId(3), "a".into())].into();
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"3":"a"}"#);
        let back: BTreeMap<ShuffleId, ExecutorId> = serde_json::from_str(r#"{"3":"a"}"#).unwrap();
        assert_eq!(back, m);
        // postcard (what travels to executors) encodes the bare number too.
        assert_eq!(
            postcard::to_stdvec(&JobId(300)).unwrap(),
            postcard::to_stdvec(&300u32).unwrap()
        );
    }

    #[test]
    fn executor_ids_order_as_strings_and_look_up_by_str() {
        let mut ids: Vec<ExecutorId> = ["2", "10", "1"].map(ExecutorId::from).to_vec();
        ids.sort();
        assert_eq!(ids, ["1", "10", "2"]);
        let m: BTreeMap<ExecutorId, u32> = [("7".into(), 1)].into();
        assert_eq!(m.get("7"), Some(&1));
        assert_eq!(ExecutorId::from("7").to_string(), "7");
        assert_eq!(format!("{:?}", ExecutorId::from("7")), "\"7\"");
    }

    #[test]
    fn numeric_ids_display_as_numbers() {
        assert_eq!(format!("stage {}", StageId(4)), "stage 4");
        assert_eq!(StageId(4).next(), StageId(5));
        assert_eq!(u64::from(TaskId(9)), 9);
    }
}
