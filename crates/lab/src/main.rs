//! semel-lab: the delivery-semantics lab (work in progress).

fn main() {}
