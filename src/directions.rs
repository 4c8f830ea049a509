//! The routing map `qb_directions.json`: which `inv_from` values are money in, which money out.
