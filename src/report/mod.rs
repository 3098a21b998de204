//! Reports: the end-of-run summary as text (stdout) and as `summary.json`.

pub mod summary;

pub use summary::Summary;
