//! Properties checked by the fuzz targets in `fuzz/` and by the corpus replay tests.

use crate::batch::{
    Record, RecordBatch, RecordBatchBuilder, RecordRefs, Records, decode_record_full,
    patch_base_offset, patch_log_append_time, patch_partition_leader_epoch, skip_record,
};
use crate::codec::{Decoder, Encoder};
use bytes::Bytes;

/// A broken property must stop the fuzzer with the reason: this is the one place that panics.
#[allow(clippy::panic)]
#[track_caller]
fn must<T, E: std::fmt::Debug>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e:?}"),
    }
}

/// `wire_record_batch`: `data` as a `records` field holding any number of batches.
///
/// For every batch the splitter yields: the header accessors agree with the raw bytes and every
/// check runs without panicking. For every batch that validates (CRC included):
/// - patching base offset, leader epoch and append time gives a batch that still validates and
///   shows the new values, and the other header fields are unchanged;
/// - if its records are plain and iterate without error, rebuilding it with
///   [`RecordBatchBuilder::from_header`] and the parsed records gives a valid batch with the same
///   header fields and records, no longer than the input, and byte-identical whenever it has the
///   same length. (Equal length is exactly the case of minimal varints; a non-minimal varint in
///   the input is accepted, as Kafka does, and re-encoded shorter.)
pub fn wire_record_batch(data: &[u8]) {
    let input = Bytes::copy_from_slice(data);
    for batch in RecordBatch::split(input) {
        let Ok(batch) = batch else { break };
        check_header_matches_bytes(&batch);
        let _ = batch.validate_produce();
        let _ = batch.end_txn_marker();
        let _ = batch.last_sequence();
        if batch.validate().is_err() {
            continue;
        }
        check_patches_keep_the_batch_valid(&batch);
        if batch.is_compressed() {
            continue;
        }
        let records = must(batch.records(), "records of a plain batch");
        let Ok(records) = records.collect::<Result<Vec<Record>, _>>() else {
            continue;
        };
        let mut builder = RecordBatchBuilder::from_header(batch.header());
        for r in &records {
            must(builder.push(r), "pushing a parsed record");
        }
        let rebuilt = must(builder.build(), "rebuilding a parsed batch");
        let view = must(
            RecordBatch::parse(rebuilt.clone()),
            "parsing a rebuilt batch",
        );
        must(view.validate(), "validating a rebuilt batch");
        let (mut a, mut b) = (*batch.header(), *view.header());
        (a.batch_length, a.crc, b.batch_length, b.crc) = (0, 0, 0, 0);
        assert_eq!(a, b, "rebuilt header differs");
        let again = must(view.records(), "records of the rebuilt batch")
            .collect::<Result<Vec<Record>, _>>();
        assert_eq!(must(again, "iterating the rebuilt batch"), records);
        assert!(rebuilt.len() <= batch.len(), "rebuilt batch is longer");
        if rebuilt.len() == batch.len() {
            assert_eq!(
                &rebuilt,
                batch.as_bytes(),
                "same length but different bytes"
            );
        }
    }
}

fn check_header_matches_bytes(batch: &RecordBatch) {
    let raw = batch.as_bytes();
    let i64_at = |at: usize| {
        let mut d = Decoder::new(raw.slice(at..at + 8));
        must(d.i64(), "header field")
    };
    assert_eq!(batch.base_offset(), i64_at(0));
    assert_eq!(batch.max_timestamp(), i64_at(35));
    assert_eq!(batch.producer_id(), i64_at(43));
    assert_eq!(batch.magic(), 2);
    assert_eq!(batch.len(), batch.batch_length() as usize + 12);
    assert_eq!(batch.compression().is_some(), batch.compression_id() <= 4);
    assert_eq!(batch.records_bytes().len() + 61, batch.len());
    let _ = (
        batch.timestamp_type(),
        batch.is_transactional(),
        batch.is_control(),
    );
    let _ = (batch.has_delete_horizon(), batch.last_offset());
}

fn check_patches_keep_the_batch_valid(batch: &RecordBatch) {
    let mut copy = batch.as_bytes().to_vec();
    must(
        patch_base_offset(&mut copy, 1 << 40),
        "patching the base offset",
    );
    must(
        patch_partition_leader_epoch(&mut copy, 77),
        "patching the epoch",
    );
    let offsets_only = RecordBatch::parse(Bytes::from(copy.clone()));
    let offsets_only = must(offsets_only, "parsing a patched batch");
    assert_eq!(
        offsets_only.crc(),
        batch.crc(),
        "offset patch changed the CRC"
    );
    must(
        patch_log_append_time(&mut copy, 4242),
        "patching the append time",
    );
    let patched = must(
        RecordBatch::parse(Bytes::from(copy)),
        "parsing a patched batch",
    );
    must(patched.validate(), "validating a patched batch");
    let h = patched.header();
    assert_eq!((h.base_offset, h.partition_leader_epoch), (1 << 40, 77));
    assert_eq!(h.max_timestamp, 4242);
    assert_eq!(h.attributes, batch.attributes() | 0x08);
    assert_eq!(patched.records_bytes(), batch.records_bytes());
}

/// `wire_records`: the first byte is a record count, the rest a records region.
///
/// The iterator never panics; every key, value and header it yields lies inside the input (zero
/// copy, never past the end); every yielded record re-encodes to a record that decodes equal and
/// is no longer than the bytes it was read from; iteration ends after an error; the iterator's
/// lean record reader returns exactly what the full reader does (same record, same end, same
/// error); and the allocation-free walk of `validate_produce` accepts and refuses exactly what
/// the iterator does.
pub fn wire_records(data: &[u8]) {
    let Some((&count, region)) = data.split_first() else {
        return;
    };
    let input = Bytes::copy_from_slice(region);
    let start = input.as_ptr() as usize;
    let end = start + input.len();
    let inside = |b: &Bytes| {
        b.is_empty() || (b.as_ptr() as usize >= start && b.as_ptr() as usize + b.len() <= end)
    };
    // The borrowing iterator yields the same records and errors as the owning one.
    let owned: Vec<_> = Records::new(input.clone(), 0, usize::from(count)).collect();
    let borrowed: Vec<_> = RecordRefs::new(&input, 0, usize::from(count)).collect();
    assert_eq!(
        owned.len(),
        borrowed.len(),
        "the iterators yield different counts"
    );
    for (o, b) in owned.iter().zip(&borrowed) {
        match (o, b) {
            (Ok(o), Ok(b)) => {
                let headers: Vec<(&[u8], Option<&[u8]>)> = o
                    .headers
                    .iter()
                    .map(|h| (&h.key[..], h.value.as_deref()))
                    .collect();
                assert_eq!(
                    (o.attributes, o.timestamp_delta, o.offset_delta),
                    (b.attributes, b.timestamp_delta, b.offset_delta),
                    "borrowed record fields differ"
                );
                assert_eq!(o.key.as_deref(), b.key, "borrowed key differs");
                assert_eq!(o.value.as_deref(), b.value, "borrowed value differs");
                assert_eq!(b.header_count(), headers.len(), "header count differs");
                assert_eq!(b.headers().collect::<Vec<_>>(), headers, "headers differ");
            }
            (Err(o), Err(b)) => assert_eq!(o, b, "the iterators report different errors"),
            (o, b) => must::<(), _>(
                Err((o, b)),
                "one iterator accepts a record the other refuses",
            ),
        }
    }
    let mut records = Records::new(input.clone(), 0, usize::from(count));
    // The validation walk (no keys or values taken) must agree with the iterator step by step.
    let mut walk = 0;
    let mut failed = false;
    loop {
        let at = records.position();
        let walked = (records.remaining_count() > 0).then(|| skip_record(&input, &mut walk));
        let mut full_end = at;
        let full =
            (records.remaining_count() > 0).then(|| decode_record_full(&input, &mut full_end));
        let Some(next) = records.next() else { break };
        assert!(!failed, "iteration continued after an error");
        if let Some(full) = full {
            assert_eq!(
                full, next,
                "the lean record reader disagrees with the full one"
            );
            if next.is_ok() {
                assert_eq!(
                    full_end,
                    records.position(),
                    "lean and full readers diverge"
                );
            }
        }
        if let Some(walked) = walked {
            let expected = next.as_ref().map(|r| r.offset_delta).map_err(Clone::clone);
            assert_eq!(
                walked, expected,
                "the validation walk disagrees with the iterator"
            );
        }
        let record = match next {
            Ok(r) => r,
            Err(_) => {
                failed = true;
                continue;
            }
        };
        assert_eq!(walk, records.position(), "walk and iterator diverge");
        assert!(
            record.key.as_ref().is_none_or(inside),
            "key outside the input"
        );
        assert!(
            record.value.as_ref().is_none_or(inside),
            "value outside the input"
        );
        for h in &record.headers {
            assert!(inside(&h.key), "header key outside the input");
            assert!(
                h.value.as_ref().is_none_or(inside),
                "header value outside the input"
            );
        }
        let mut e = Encoder::new();
        must(record.encode(&mut e), "re-encoding a record");
        let encoded = e.into_bytes();
        assert!(
            encoded.len() <= records.position() - at,
            "re-encoded record is longer"
        );
        let mut end = 0;
        let again = must(
            crate::batch::decode_record(&encoded, &mut end),
            "decoding a re-encoded record",
        );
        assert_eq!(end, encoded.len(), "re-encoded record has trailing bytes");
        assert_eq!(again, record);
    }
}

/// `wire_request_frame`: `data` as a whole request frame body (request header and body, no size
/// prefix) of any API and version.
///
/// Decoding never panics. If it succeeds: the value encodes at the same version, the encoding is
/// exactly as long as predicted, it decodes to an equal header and body, and encoding that again
/// gives identical bytes. (The first encoding may differ from `data`: bools other than 0/1,
/// tagged fields holding their default and non-minimal varints are normalised.)
pub fn request_frame(data: &[u8]) {
    use crate::messages::{decode_request, encode_request};
    let Ok((header, body)) = decode_request(Bytes::copy_from_slice(data)) else {
        return;
    };
    let version = header.request_api_version;
    let predicted = {
        use crate::messages::Codec;
        header.encoded_len(body.api_key().request_header_version(version))
            + body.encoded_len(version)
    };
    let first = must(encode_request(&header, &body), "encoding a decoded request");
    assert_eq!(first.len(), predicted, "encoded_len of a decoded request");
    let first = first.into_bytes();
    let (header2, body2) = must(
        decode_request(first.clone()),
        "decoding a re-encoded request",
    );
    assert_eq!(header2, header, "request header after a round trip");
    assert_eq!(body2, body, "request body after a round trip");
    let second = must(
        encode_request(&header2, &body2),
        "encoding a request a second time",
    );
    assert_eq!(second.into_bytes(), first, "second encoding differs");
}
