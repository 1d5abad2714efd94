//! Nothing here: only the dependency matters.
