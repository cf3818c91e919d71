//! The route table of an axum `Router`, for tests that walk a router against its OpenAPI document.

use std::collections::BTreeSet;

/// The paths of a router's route table, read from its `Debug` form (`format!("{router:?}")`; axum has no other way
/// to list them): the quoted strings of the first `paths: {...}` map, which is the routes' (the fallbacks' come
/// after). Panics if the form has no such map, so a change of axum's `Debug` fails the test rather than passing it.
pub fn routed_paths(router_debug: &str) -> BTreeSet<String> {
    let start = router_debug.find("paths: {").expect("axum's Router Debug lists its paths") + "paths: {".len();
    let mut paths = BTreeSet::new();
    let mut chars = router_debug[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '}' => break,
            '"' => paths.insert(chars.by_ref().take_while(|c| *c != '"').collect()),
            _ => continue,
        };
    }
    paths
}
