//! Type-erased keys and values: how typed records travel between the operators of a
//! compiled topology. The DSL checks the types when the topology is built; a downcast
//! that fails at run time is a bug in this crate and reported as `TaskError::TypeMismatch`.

use std::any::Any;

use crate::error::TaskError;

/// What keys and values must be to flow through a topology: cloned when a record goes
/// to several operators, and moved to the thread that runs the task.
pub trait Data: Clone + Send + 'static {}

impl<T: Clone + Send + 'static> Data for T {}

/// Object-safe access to a `Data` value.
pub(crate) trait AnyData: Send {
    fn clone_box(&self) -> Box<dyn AnyData>;
    fn as_any(&self) -> &dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
    fn type_name(&self) -> &'static str;
}

impl<T: Data> AnyData for T {
    fn clone_box(&self) -> Box<dyn AnyData> {
        Box::new(self.clone())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
}

/// One erased key or value.
///
/// A newtype rather than a bare `Box<dyn AnyData>`: the box itself is `Data`, so method
/// calls on it could pick the box's own `AnyData` impl instead of the value's. Every
/// call below goes through `*self.0`, the value.
pub(crate) struct Value(Box<dyn AnyData>);

impl Clone for Value {
    fn clone(&self) -> Self {
        Value((*self.0).clone_box())
    }
}

impl Value {
    pub(crate) fn new<T: Data>(value: T) -> Self {
        Value(Box::new(value))
    }

    pub(crate) fn get<T: Data>(&self, node: &str) -> Result<&T, TaskError> {
        (*self.0)
            .as_any()
            .downcast_ref::<T>()
            .ok_or_else(|| self.mismatch::<T>(node))
    }

    pub(crate) fn take<T: Data>(self, node: &str) -> Result<T, TaskError> {
        let found = (*self.0).type_name();
        self.0
            .into_any()
            .downcast::<T>()
            .map(|b| *b)
            .map_err(|_| TaskError::TypeMismatch {
                node: node.to_string(),
                expected: std::any::type_name::<T>(),
                found,
            })
    }

    fn mismatch<T>(&self, node: &str) -> TaskError {
        TaskError::TypeMismatch {
            node: node.to_string(),
            expected: std::any::type_name::<T>(),
            found: (*self.0).type_name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_downcast_to_their_own_type_only() {
        let v = Value::new("Alice".to_string());
        assert_eq!(v.get::<String>("n").unwrap(), "Alice");
        let copy = v.clone();
        assert_eq!(copy.take::<String>("n").unwrap(), "Alice");
        let err = v.take::<u64>("n").unwrap_err();
        assert!(matches!(
            err,
            TaskError::TypeMismatch {
                expected: "u64",
                ..
            }
        ));
    }
}
