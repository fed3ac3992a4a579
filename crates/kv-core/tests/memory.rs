mod common;

use kv_core::MemoryStorage;

#[test]
fn memory_backend_meets_the_contract() {
    common::run_contract(MemoryStorage::new);
}
