//! Helpers of the tests that run the `top` example as child processes and, with `http`, a
//! real Prometheus server scraping them.
// Each test crate that includes it uses a part of it.
#![allow(dead_code)]

#[cfg(feature = "http")]
pub(crate) mod prometheus;
pub(crate) mod tools;
pub(crate) mod top_example;
