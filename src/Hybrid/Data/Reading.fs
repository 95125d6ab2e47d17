/// Reading data files so that every failure names its file and the place in it: delimited text by
/// line and column (both counted from 1, as editors show them), binary files by byte offset.
module internal Hybrid.Reading

open System
open System.Globalization
open System.IO
open System.Text

/// A non-blank line of delimited text, split into trimmed fields.
type Line = { Number: int; Fields: string[] }

let at line column = sprintf "line %d, column %d" line column

let fail file location problem = raise (InvalidFileException(file, location, problem))

/// The whole content of a file, decompressed and verified when gzip (see Gzip). Content beyond what
/// one array holds is refused as it arrives, so memory follows the data actually read.
let readAllBytes (path: string) : byte[] =
    use file = File.OpenRead path
    use content = Gzip.decompressed path file
    use buffer = new MemoryStream()
    let chunk = Array.zeroCreate<byte>(1 <<< 16)

    let rec copy () =
        let count = content.Read(chunk, 0, chunk.Length)

        if count > 0 then
            if buffer.Length + int64 count > int64 Array.MaxLength then
                fail path "" (sprintf "the content exceeds %d bytes, more than one array holds" Array.MaxLength)

            buffer.Write(chunk, 0, count)
            copy ()

    copy ()
    buffer.ToArray()

/// Stands in for each invalid UTF-8 sequence while decoding, so `lines` can refuse the text at its
/// line and column instead of reading U+FFFD: U+FDD0, a noncharacter, which Unicode reserves for
/// exactly such internal use and which no file has reason to hold (one that does is refused too).
/// A lone surrogate would be unambiguous, but .NET refuses one from a decoder fallback.
let private invalidMark = '\uFDD0'

type private MarkingBuffer() =
    inherit DecoderFallbackBuffer()
    let mutable remaining = 0

    override _.Fallback(_: byte[], _: int) =
        remaining <- 1
        true

    override _.GetNextChar() =
        if remaining > 0 then
            remaining <- 0
            invalidMark
        else
            '\000'

    override _.MovePrevious() =
        let moved = remaining = 0
        remaining <- 1
        moved

    override _.Remaining = remaining

type private Marking() =
    inherit DecoderFallback()
    override _.MaxCharCount = 1
    override _.CreateFallbackBuffer() = MarkingBuffer()

let private utf8 =
    Encoding.GetEncoding("utf-8", EncoderFallback.ExceptionFallback, Marking())

/// A reader of the stream's text as UTF-8 (or UTF-16 with a byte-order mark), decompressed and
/// verified when gzip; invalid bytes reach `lines` marked, to be refused there.
let textOf (file: string) (stream: Stream) : StreamReader = new StreamReader(Gzip.decompressed file stream, utf8, true)

/// Splits on the separator, honouring double quotes: a quoted field may hold the separator, and
/// "" inside it stands for one quote. Lines without quotes take the fast path.
let private split file number (separator: char) (text: string) : string[] =
    if not (text.Contains '"') then
        text.Split separator
    else
        let fields = ResizeArray<string>()
        let field = Text.StringBuilder()
        let mutable quoted = false
        let mutable i = 0

        while i < text.Length do
            let c = text[i]

            if quoted && c = '"' && i + 1 < text.Length && text[i + 1] = '"' then
                field.Append '"' |> ignore
                i <- i + 1
            elif c = '"' then
                quoted <- not quoted
            elif c = separator && not quoted then
                fields.Add(field.ToString())
                field.Clear() |> ignore
            else
                field.Append c |> ignore

            i <- i + 1

        if quoted then
            fail file (at number (fields.Count + 1)) "a quoted field is not closed before the end of the line"

        fields.Add(field.ToString())
        fields.ToArray()

/// Fails when a field holds text that is not valid Unicode, naming its column.
let private checkUnicode file number (fields: string[]) =
    match fields |> Array.tryFindIndex _.Contains(invalidMark) with
    | None -> ()
    | Some column ->
        let problem =
            "the text is not valid UTF-8; Hybrid reads text files as UTF-8 and refuses to guess another encoding, so save the file as UTF-8"

        fail file (at number (column + 1)) problem

/// The first `skip` lines of the file as they are (blank ones included), then every non-blank line
/// after them split into fields; lines keep the numbers an editor shows, blank and skipped ones
/// counted.
let lines file (separator: char) (skip: int) (reader: TextReader) : string[] * Line[] =
    let skipped = ResizeArray<string>()
    let lines = ResizeArray<Line>()

    let rec loop number =
        match reader.ReadLine() with
        | null -> ()
        | text ->
            if number <= skip then
                checkUnicode file number (text.Split separator)
                skipped.Add text
            elif not (String.IsNullOrWhiteSpace text) then
                let fields = split file number separator text |> Array.map _.Trim()
                checkUnicode file number fields
                lines.Add { Number = number; Fields = fields }

            loop (number + 1)

    loop 1
    skipped.ToArray(), lines.ToArray()

/// Fails unless the line has the expected number of fields (`why` says where that number comes
/// from); the column named is the first extra field, or the first missing one.
let checkWidth file expected (why: string) (line: Line) =
    let found = line.Fields.Length

    if found <> expected then
        let problem = sprintf "expected %d fields%s, found %d" expected why found
        fail file (at line.Number (min found expected + 1)) problem

let private parseDouble (text: string) = Double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture)

/// The field at a 0-based column as a finite 32-bit float, the engine's number type.
let number file (line: Line) column : float32 =
    let text = line.Fields[column]
    let where = at line.Number (column + 1)

    match parseDouble text with
    | false, _ when text = "" -> fail file where "expected a number, found an empty field"
    | false, _ -> fail file where (sprintf "expected a number, found \"%s\"" (Excerpt.text text))
    | true, value when not (Double.IsFinite value) ->
        let kind = if Double.IsNaN value then "NaN" else "an infinite value"
        fail file where (sprintf "found %s (\"%s\"); every value must be a finite number" kind (Excerpt.text text))
    | true, value when not (Single.IsFinite(float32 value)) ->
        fail file where (sprintf "%s is beyond the range of a 32-bit float" (Excerpt.text text))
    | true, value -> float32 value

/// The field at a 0-based column as a class index: a non-negative integer ("2" or "2.0"), below
/// `classes` when the class count is declared.
let classIndex file (line: Line) column (classes: int option) : int =
    let text = line.Fields[column]
    let where = at line.Number (column + 1)

    let quoted = Excerpt.text text

    match parseDouble text, classes with
    | (true, value), _ when value <> Math.Round value || value < 0.0 || value > float Int32.MaxValue ->
        fail file where (sprintf "expected a class index (an integer from 0), found %s" quoted)
    | (true, value), Some count when int value >= count ->
        let problem =
            sprintf "class index %s is out of range: %d classes are declared, so 0..%d" quoted count (count - 1)

        fail file where problem
    | (true, value), _ -> int value
    | (false, _), _ -> fail file where (sprintf "expected a class index (an integer from 0), found \"%s\"" quoted)

/// The given 0-based columns of every row, row-major, as the engine consumes them.
let features file (rows: Line[]) (columns: int[]) : float32[] =
    let values = Array.zeroCreate (rows.Length * columns.Length)

    rows
    |> Array.iteri (fun r line ->
        columns
        |> Array.iteri (fun c column -> values[r * columns.Length + c] <- number file line column))

    values
