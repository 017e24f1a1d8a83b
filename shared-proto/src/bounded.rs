//! Byte strings and lists whose maximum length is part of their type.
//!
//! A frame is size-checked before it is decoded, but a bound on the whole
//! frame says little about one field. With the bound in the type, a decoded
//! value can never exceed it (decoding fails first), every message has a
//! computable maximum encoded size, and the firmware can reason about memory
//! per field instead of per frame.

use alloc::vec::Vec;
use core::{fmt, marker::PhantomData, ops::Deref};
use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{self, SeqAccess, Visitor},
};

/// Number of bytes postcard uses for the varint length prefix of `n`.
pub const fn varint_len(n: usize) -> usize {
    let mut len = 1;
    let mut v = n >> 7;
    while v != 0 {
        len += 1;
        v >>= 7;
    }
    len
}

/// The value was longer than its type allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLong;

impl fmt::Display for TooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("value longer than its bound")
    }
}

/// A byte string of at most `N` bytes.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Blob<const N: usize>(Vec<u8>);

impl<const N: usize> Blob<N> {
    /// Largest postcard encoding of any `Blob<N>`.
    pub const MAX_SIZE: usize = varint_len(N) + N;

    /// Copies `bytes`, refusing more than `N` of them.
    pub fn new(bytes: &[u8]) -> Result<Self, TooLong> {
        Self::from_vec(bytes.to_vec())
    }

    /// Takes `bytes`, refusing more than `N` of them.
    pub fn from_vec(bytes: Vec<u8>) -> Result<Self, TooLong> {
        if bytes.len() > N {
            Err(TooLong)
        } else {
            Ok(Self(bytes))
        }
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// Gives up the bound.
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }
}

impl<const N: usize> Deref for Blob<N> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl<const N: usize> AsRef<[u8]> for Blob<N> {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl<const N: usize> fmt::Debug for Blob<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blob<{N}>({} bytes)", self.0.len())
    }
}

impl<const N: usize> Serialize for Blob<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de, const N: usize> Deserialize<'de> for Blob<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const N: usize>;
        impl<'de, const N: usize> Visitor<'de> for V<N> {
            type Value = Blob<N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "at most {N} bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Blob<N>, E> {
                Blob::new(v).map_err(|_| E::invalid_length(v.len(), &self))
            }
            fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Blob<N>, E> {
                self.visit_bytes(v)
            }
        }
        d.deserialize_bytes(V::<N>)
    }
}

/// A list of at most `N` items.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct List<T, const N: usize>(Vec<T>);

impl<T, const N: usize> Default for List<T, N> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T, const N: usize> List<T, N> {
    /// Largest postcard encoding of a list whose items encode to at most
    /// `item_max` bytes.
    pub const fn max_size(item_max: usize) -> usize {
        varint_len(N) + N * item_max
    }

    /// Takes `items`, refusing more than `N` of them.
    pub fn from_vec(items: Vec<T>) -> Result<Self, TooLong> {
        if items.len() > N {
            Err(TooLong)
        } else {
            Ok(Self(items))
        }
    }

    /// Appends, refusing to exceed `N`.
    pub fn push(&mut self, item: T) -> Result<(), TooLong> {
        if self.0.len() >= N {
            return Err(TooLong);
        }
        self.0.push(item);
        Ok(())
    }

    /// Gives up the bound.
    pub fn into_vec(self) -> Vec<T> {
        self.0
    }
}

impl<T, const N: usize> Deref for List<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: fmt::Debug, const N: usize> fmt::Debug for List<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

impl<T: Serialize, const N: usize> Serialize for List<T, N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter())
    }
}

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for List<T, N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const N: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const N: usize> Visitor<'de> for V<T, N> {
            type Value = List<T, N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "at most {N} items")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T, N>, A::Error> {
                // Refuse on the announced length before allocating anything.
                let announced = seq.size_hint().unwrap_or(0);
                if announced > N {
                    return Err(de::Error::invalid_length(announced, &self));
                }
                let mut items = Vec::with_capacity(announced);
                while let Some(item) = seq.next_element()? {
                    if items.len() >= N {
                        return Err(de::Error::invalid_length(N + 1, &self));
                    }
                    items.push(item);
                }
                Ok(List(items))
            }
        }
        d.deserialize_seq(V::<T, N>(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn blob_refuses_more_than_its_bound_when_decoding() {
        let long = postcard::to_allocvec(&Blob::<8>::new(&[7; 8]).unwrap()).unwrap();
        assert_eq!(long.len(), Blob::<8>::MAX_SIZE);
        assert!(postcard::from_bytes::<Blob<8>>(&long).is_ok());
        assert!(postcard::from_bytes::<Blob<7>>(&long).is_err());
        assert_eq!(Blob::<3>::new(&[1, 2, 3, 4]), Err(TooLong));
    }

    #[test]
    fn list_refuses_more_than_its_bound_when_decoding() {
        let enc = postcard::to_allocvec(&List::<u8, 3>::from_vec(vec![1, 2, 3]).unwrap()).unwrap();
        assert!(postcard::from_bytes::<List<u8, 3>>(&enc).is_ok());
        assert!(postcard::from_bytes::<List<u8, 2>>(&enc).is_err());
        let mut l = List::<u8, 1>::default();
        assert!(l.push(1).is_ok());
        assert_eq!(l.push(2), Err(TooLong));
    }

    #[test]
    fn varint_len_matches_postcard() {
        for n in [0usize, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152] {
            let enc = postcard::to_allocvec(&(n as u64)).unwrap();
            assert_eq!(varint_len(n), enc.len(), "n = {n}");
        }
    }
}
