//! The messages of pprof's `profile.proto` that a CPU profile uses, for `prost`.
//!
//! Field numbers and meanings follow `github.com/google/pprof/proto/profile.proto`; fields
//! vigil never sets are left out (protobuf readers skip absent fields).

/// A whole profile.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Profile {
    /// What each sample value measures (`samples`/`count`, `cpu`/`nanoseconds`).
    #[prost(message, repeated, tag = "1")]
    pub sample_type: Vec<ValueType>,
    /// The samples.
    #[prost(message, repeated, tag = "2")]
    pub sample: Vec<Sample>,
    /// Loaded objects.
    #[prost(message, repeated, tag = "3")]
    pub mapping: Vec<Mapping>,
    /// Program locations (one per distinct address).
    #[prost(message, repeated, tag = "4")]
    pub location: Vec<Location>,
    /// Functions.
    #[prost(message, repeated, tag = "5")]
    pub function: Vec<Function>,
    /// Every string, indexed by the other messages; entry 0 is `""`.
    #[prost(string, repeated, tag = "6")]
    pub string_table: Vec<String>,
    /// When the profile was started, in nanoseconds since the Unix epoch.
    #[prost(int64, tag = "9")]
    pub time_nanos: i64,
    /// How long it ran, in nanoseconds.
    #[prost(int64, tag = "10")]
    pub duration_nanos: i64,
    /// The kind of event between samples (`cpu`/`nanoseconds`).
    #[prost(message, optional, tag = "11")]
    pub period_type: Option<ValueType>,
    /// The CPU time between two samples of one thread, in nanoseconds.
    #[prost(int64, tag = "12")]
    pub period: i64,
}

/// A value's type and unit, as string-table indexes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueType {
    /// e.g. `cpu`.
    #[prost(int64, tag = "1")]
    pub r#type: i64,
    /// e.g. `nanoseconds`.
    #[prost(int64, tag = "2")]
    pub unit: i64,
}

/// One stack and its values.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// Location ids, innermost first.
    #[prost(uint64, repeated, tag = "1")]
    pub location_id: Vec<u64>,
    /// One value per `sample_type`.
    #[prost(int64, repeated, tag = "2")]
    pub value: Vec<i64>,
    /// Labels: `service` on every sample.
    #[prost(message, repeated, tag = "3")]
    pub label: Vec<Label>,
}

/// A key and a string or number.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    /// String-table index of the key.
    #[prost(int64, tag = "1")]
    pub key: i64,
    /// String-table index of the value, or 0.
    #[prost(int64, tag = "2")]
    pub str: i64,
    /// A numeric value, if `str` is 0.
    #[prost(int64, tag = "3")]
    pub num: i64,
}

/// A loaded object's address range.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Mapping {
    /// Id, from 1.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// First address.
    #[prost(uint64, tag = "2")]
    pub memory_start: u64,
    /// One past the last address.
    #[prost(uint64, tag = "3")]
    pub memory_limit: u64,
    /// String-table index of the file name.
    #[prost(int64, tag = "5")]
    pub filename: i64,
    /// Whether locations in it carry function names.
    #[prost(bool, tag = "7")]
    pub has_functions: bool,
}

/// An address and the functions (inlined ones first) at it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Location {
    /// Id, from 1.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// The mapping it lies in, or 0.
    #[prost(uint64, tag = "2")]
    pub mapping_id: u64,
    /// The instruction address.
    #[prost(uint64, tag = "3")]
    pub address: u64,
    /// Innermost (inlined) first; the last is the function the code belongs to.
    #[prost(message, repeated, tag = "4")]
    pub line: Vec<Line>,
}

/// A function and line.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Line {
    /// Function id.
    #[prost(uint64, tag = "1")]
    pub function_id: u64,
    /// Source line, or 0.
    #[prost(int64, tag = "2")]
    pub line: i64,
}

/// A function.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Function {
    /// Id, from 1.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// String-table index of the demangled name.
    #[prost(int64, tag = "2")]
    pub name: i64,
    /// String-table index of the system name (the same here).
    #[prost(int64, tag = "3")]
    pub system_name: i64,
    /// String-table index of the source file, or 0.
    #[prost(int64, tag = "4")]
    pub filename: i64,
}
