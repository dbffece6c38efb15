//! The output of the listings, `list-aliases` and `list-repos`: one name a line as the
//! pages arrive (python-dxf's), or with `--json` one array of every name. Not in
//! python-dxf.
//!
//! The array is written name by name to a spool file in `$TMPDIR` as the pages arrive and
//! printed once the last one has, so that memory stays flat however many pages there are
//! and a failed page prints nothing.

use std::io::{self, BufWriter, Write};

use dxf_ureq::dxf_proto::pyjson::Json;

use crate::error::CliError;
use crate::files::{spool_error, Spool};
use crate::output;

/// Prints `names`: one a line, or with `json` as one JSON array ([`json_array`]).
pub(super) fn print(
    out: &mut dyn Write,
    names: impl Iterator<Item = dxf_ureq::Result<String>>,
    json: bool,
) -> Result<(), CliError> {
    if json {
        return json_array(out, names);
    }
    for name in names {
        output::line(out, &name?)?;
    }
    Ok(())
}

/// Bytes of a listing's JSON buffered between writes to its spool file.
const SPOOL_BUFFER: usize = 64 * 1024;

/// A JSON array of strings written one element at a time: the same bytes as
/// `Json::Arr(items).compact()` (each element is [`Json::compact`] of the string), with
/// only one element in memory.
struct StrArray<W: Write> {
    out: W,
    empty: bool,
}

impl<W: Write> StrArray<W> {
    /// Starts the array (`[`).
    fn start(mut out: W) -> io::Result<StrArray<W>> {
        out.write_all(b"[")?;
        Ok(StrArray { out, empty: true })
    }

    /// Appends one string.
    fn push(&mut self, s: String) -> io::Result<()> {
        if !self.empty {
            self.out.write_all(b",")?;
        }
        self.empty = false;
        self.out.write_all(Json::Str(s).compact().as_bytes())
    }

    /// Ends the array (`]`) and the document (a newline).
    fn finish(mut self) -> io::Result<()> {
        self.out.write_all(b"]\n")
    }
}

/// Writes `names` to `sink` as one JSON array and a newline, name by name. A failed page
/// is its error; a failed write, a [`spool_error`] (the sink is the spool file).
fn write_names(
    sink: &mut dyn Write,
    names: impl Iterator<Item = dxf_ureq::Result<String>>,
) -> Result<(), CliError> {
    let mut array = StrArray::start(sink).map_err(spool_error)?;
    for name in names {
        array.push(name?).map_err(spool_error)?;
    }
    array.finish().map_err(spool_error)
}

/// Prints names as one JSON array: with every page in memory it could reach 100,000 pages
/// of 16 MiB, so the document goes to a spool file in `$TMPDIR` ([`Spool`]) as the pages
/// arrive, and to `out` only once the last one has: a failure on any page prints nothing.
/// The spool file is made before the first page is asked for: a `$TMPDIR` where no file
/// can be created is an error before anything is sent.
fn json_array(
    out: &mut dyn Write,
    names: impl Iterator<Item = dxf_ureq::Result<String>>,
) -> Result<(), CliError> {
    let mut spool = Spool::new().map_err(spool_error)?;
    let mut sink = BufWriter::with_capacity(SPOOL_BUFFER, spool.file());
    write_names(&mut sink, names)?;
    sink.flush().map_err(spool_error)?;
    drop(sink);
    spool.copy_to(out, usize::MAX)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The old encoding: the whole list as one `Json::Arr`, then a newline.
    fn whole(names: &[&str]) -> Vec<u8> {
        let doc = Json::Arr(names.iter().map(|n| Json::Str((*n).to_owned())).collect()).compact();
        let mut v = Vec::new();
        output::line(&mut v, &doc).unwrap();
        v
    }

    fn streamed(names: &[&str]) -> Vec<u8> {
        let mut v = Vec::new();
        write_names(&mut v, names.iter().map(|n| Ok((*n).to_owned()))).unwrap();
        v
    }

    #[test]
    fn streamed_names_are_the_whole_document_byte_for_byte() {
        let all_ascii: String = (0u8..128).map(char::from).collect();
        let lists: [&[&str]; 5] = [
            &[],
            &[""],
            &["latest"],
            &[
                "quote\"d",
                "back\\slash",
                "\u{0}\u{1}\u{1f} \t\n\r\u{8}\u{c}",
                "del\u{7f}",
                "/slash</script>",
                "caf\u{e9}-\u{fc}\u{a0}",
                "\u{20ac}\u{2028}\u{2029}\u{feff}\u{fffd}",
                "astral-\u{1f600}\u{10ffff}",
                "",
                "",
            ],
            &[&all_ascii, "v1.0", &all_ascii],
        ];
        for names in lists {
            assert_eq!(streamed(names), whole(names), "{names:?}");
        }
        assert_eq!(streamed(&["a", "b\"c"]), b"[\"a\",\"b\\\"c\"]\n");
        assert_eq!(streamed(&[]), b"[]\n");
    }

    #[test]
    fn a_failed_page_is_the_error() {
        let names = [
            Ok("a".to_owned()),
            Err(dxf_ureq::Error::from(
                dxf_ureq::dxf_proto::Error::CredentialsOverPlainHttp,
            )),
            Ok("b".to_owned()),
        ];
        let mut v = Vec::new();
        let e = write_names(&mut v, names.into_iter()).unwrap_err();
        assert!(matches!(e, CliError::Dxf { .. }), "{e:?}");
    }

    #[test]
    fn a_failed_spool_write_is_a_temporary_file_error() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::StorageFull.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let e = write_names(&mut Full, std::iter::empty()).unwrap_err();
        assert!(e.to_string().starts_with("temporary file in "), "{e}");
    }

    #[test]
    fn text_is_one_name_a_line() {
        let mut v = Vec::new();
        print(
            &mut v,
            ["a", "b c"].map(|n| Ok(n.to_owned())).into_iter(),
            false,
        )
        .unwrap();
        assert_eq!(v, b"a\nb c\n");
    }
}
