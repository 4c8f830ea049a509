//! The Google Sheets side: the only module that knows the Sheets wire format.
