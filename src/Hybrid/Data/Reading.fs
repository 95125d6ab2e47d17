/// Reading data files so that every failure names its file and the place in it: delimited text by
/// line and column (both counted from 1, as editors show them), binary files by byte offset.
module internal Hybrid.Reading

open System
open System.Globalization
open System.IO
open System.IO.Compression

/// A non-blank line of delimited text, split into trimmed fields.
type Line = { Number: int; Fields: string[] }

let at line column = sprintf "line %d, column %d" line column

let fail file location problem =
    raise (InvalidFileException(file, location, problem))

/// The stream's content, decompressed when it starts with the gzip magic bytes 1f 8b, so that
/// callers never depend on a file's extension. The stream must be seekable to peek at the magic.
let decompressed (stream: Stream) : Stream =
    let first = stream.ReadByte()
    let second = stream.ReadByte()
    stream.Position <- 0L

    if first = 0x1f && second = 0x8b then
        new GZipStream(stream, CompressionMode.Decompress)
    else
        stream

/// The whole content of a file, decompressed when gzip; a corrupt gzip stream becomes a file error.
let readAllBytes (path: string) : byte[] =
    use file = File.OpenRead path
    use content = decompressed file
    use buffer = new MemoryStream()

    try
        content.CopyTo buffer
    with :? InvalidDataException as e ->
        fail path "" (sprintf "not a valid gzip stream (%s)" e.Message)

    buffer.ToArray()

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

/// Every non-blank line; blank lines (a trailing newline, a gap) are skipped but still counted.
let lines file (separator: char) (reader: TextReader) : Line[] =
    let lines = ResizeArray<Line>()

    let rec loop number =
        match reader.ReadLine() with
        | null -> ()
        | text ->
            if not (String.IsNullOrWhiteSpace text) then
                let fields = split file number separator text |> Array.map _.Trim()
                lines.Add { Number = number; Fields = fields }

            loop (number + 1)

    loop 1
    lines.ToArray()

/// Fails unless the line has the expected number of fields (`why` says where that number comes
/// from); the column named is the first extra field, or the first missing one.
let checkWidth file expected (why: string) (line: Line) =
    let found = line.Fields.Length

    if found <> expected then
        let problem = sprintf "expected %d fields%s, found %d" expected why found
        fail file (at line.Number (min found expected + 1)) problem

let private parseDouble (text: string) =
    Double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture)

/// The field at a 0-based column as a finite 32-bit float, the engine's number type.
let number file (line: Line) column : float32 =
    let text = line.Fields[column]
    let where = at line.Number (column + 1)

    match parseDouble text with
    | false, _ when text = "" -> fail file where "expected a number, found an empty field"
    | false, _ -> fail file where (sprintf "expected a number, found \"%s\"" text)
    | true, value when not (Double.IsFinite value) ->
        let kind = if Double.IsNaN value then "NaN" else "an infinite value"
        fail file where (sprintf "found %s (\"%s\"); every value must be a finite number" kind text)
    | true, value when not (Single.IsFinite(float32 value)) ->
        fail file where (sprintf "%s is beyond the range of a 32-bit float" text)
    | true, value -> float32 value

/// The field at a 0-based column as a class index: a non-negative integer ("2" or "2.0"), below
/// `classes` when the class count is declared.
let classIndex file (line: Line) column (classes: int option) : int =
    let text = line.Fields[column]
    let where = at line.Number (column + 1)

    match parseDouble text, classes with
    | (true, value), _ when value <> Math.Round value || value < 0.0 || value > float Int32.MaxValue ->
        fail file where (sprintf "expected a class index (an integer from 0), found %s" text)
    | (true, value), Some count when int value >= count ->
        let problem = sprintf "class index %s is out of range: %d classes are declared, so 0..%d" text count (count - 1)
        fail file where problem
    | (true, value), _ -> int value
    | (false, _), _ -> fail file where (sprintf "expected a class index (an integer from 0), found \"%s\"" text)

/// The given 0-based columns of every row, row-major, as the engine consumes them.
let features file (rows: Line[]) (columns: int[]) : float32[] =
    let values = Array.zeroCreate (rows.Length * columns.Length)

    rows
    |> Array.iteri (fun r line ->
        columns |> Array.iteri (fun c column -> values[r * columns.Length + c] <- number file line column))

    values
