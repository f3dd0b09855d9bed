//! One response's encoder: synchronous `Write`-style encoders writing into a buffer the
//! body wrapper drains after every step (see ARCHITECTURE.md for why not
//! async-compression).

use std::io::Write as _;

use bytes::buf::Writer;
use bytes::{BufMut as _, Bytes, BytesMut};
use tollgate_ir::{Coding, CompressionLevels};

type Out = Writer<BytesMut>;

/// Brotli window: 2^18 = 256 KiB per stream. Past that the ratio gains little on API
/// answers and the memory is per concurrent response.
const BROTLI_LGWIN: u32 = 18;
/// Brotli's own input buffer.
const BROTLI_BUFFER: usize = 16 * 1024;

pub(crate) enum Encoder {
    Gzip(flate2::write::GzEncoder<Out>),
    Br(Box<brotli::CompressorWriter<Out>>),
    Zstd(zstd::stream::write::Encoder<'static, Out>),
}

impl Encoder {
    pub(crate) fn new(coding: Coding, levels: &CompressionLevels) -> std::io::Result<Self> {
        let out = BytesMut::new().writer();
        Ok(match coding {
            Coding::Gzip => Self::Gzip(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::new(levels.gzip),
            )),
            Coding::Br => Self::Br(Box::new(brotli::CompressorWriter::new(
                out,
                BROTLI_BUFFER,
                levels.br,
                BROTLI_LGWIN,
            ))),
            Coding::Zstd => Self::Zstd(zstd::stream::write::Encoder::new(out, levels.zstd)?),
        })
    }

    fn out(&mut self) -> &mut BytesMut {
        match self {
            Self::Gzip(e) => e.get_mut().get_mut(),
            Self::Br(e) => e.get_mut().get_mut(),
            Self::Zstd(e) => e.get_mut().get_mut(),
        }
    }

    /// What the encoder has produced so far (maybe nothing: encoders hold data back to
    /// compress it better).
    fn take(&mut self) -> Bytes {
        self.out().split().freeze()
    }

    /// Feeds `data`; returns the output ready so far.
    pub(crate) fn write(&mut self, data: &[u8]) -> std::io::Result<Bytes> {
        match self {
            Self::Gzip(e) => e.write_all(data)?,
            Self::Br(e) => e.write_all(data)?,
            Self::Zstd(e) => e.write_all(data)?,
        }
        Ok(self.take())
    }

    /// Pushes out everything fed so far, decodable by the client now (a sync flush: the
    /// stream goes on afterwards).
    pub(crate) fn flush(&mut self) -> std::io::Result<Bytes> {
        match self {
            Self::Gzip(e) => e.flush()?,
            Self::Br(e) => e.flush()?,
            Self::Zstd(e) => e.flush()?,
        }
        Ok(self.take())
    }

    /// Ends the stream: the rest of the output and the coding's trailer.
    pub(crate) fn finish(self) -> std::io::Result<Bytes> {
        let out = match self {
            Self::Gzip(e) => e.finish()?,
            // Brotli finishes the stream as it gives its writer back.
            Self::Br(e) => e.into_inner(),
            Self::Zstd(e) => e.finish()?,
        };
        Ok(out.into_inner().freeze())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    fn roundtrip(coding: Coding) {
        let input: Vec<u8> = (0..50_000u32)
            .flat_map(|i| format!("{{\"id\":{i},\"name\":\"item {i}\"}},").into_bytes())
            .collect();
        let mut enc = Encoder::new(coding, &CompressionLevels::default()).unwrap();
        let mut wire = Vec::new();
        for chunk in input.chunks(16 * 1024) {
            wire.extend_from_slice(&enc.write(chunk).unwrap());
        }
        let flushed = enc.flush().unwrap();
        assert!(
            !flushed.is_empty(),
            "{coding:?}: a flush emits the data held back"
        );
        wire.extend_from_slice(&flushed);
        let before_end = wire.len();
        wire.extend_from_slice(&enc.finish().unwrap());
        assert!(wire.len() > before_end);
        assert!(wire.len() < input.len() / 4, "{coding:?} compresses");
        let mut back = Vec::new();
        match coding {
            Coding::Gzip => {
                flate2::read::GzDecoder::new(&wire[..])
                    .read_to_end(&mut back)
                    .unwrap();
            }
            Coding::Br => {
                brotli::Decompressor::new(&wire[..], 4096)
                    .read_to_end(&mut back)
                    .unwrap();
            }
            Coding::Zstd => {
                back = zstd::stream::decode_all(&wire[..]).unwrap();
            }
        }
        assert!(back == input, "{coding:?} round trip");
    }

    #[test]
    fn every_coding_round_trips() {
        for c in Coding::ALL {
            roundtrip(c);
        }
    }
}
