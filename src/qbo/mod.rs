//! The QuickBooks Online side: the only module that knows the QBO wire format.
