namespace Hybrid

open System
open System.Buffers.Binary
open System.IO

/// Delimited text files, plain or gzip (detected by the magic bytes, not the extension).
module Csv =

    /// Which field of each row holds the label.
    type LabelColumn =
        | Last
        /// Counted from 0, like an array index (error messages count columns from 1, like editors).
        | Index of int
        /// Needs a header.
        | Name of string

    /// How label fields are read.
    type Labels =
        /// Any text is a class name. Classes are numbered in ordinal sorted order of their names
        /// (as scikit-learn's LabelEncoder does), so the numbering never depends on row order.
        | Names
        /// Integers from 0 ("2.0" counts as 2) naming classes "0", "1", ...; with a declared class
        /// count every label must be below it, without one the count is the largest label + 1.
        | Indices of classes: int option

    /// Blank lines are skipped; fields may be double-quoted; numbers use '.' as the decimal point.
    type Options = {
        /// Lines before the header (or the data) to ignore, such as scikit-learn's preamble
        /// `569,30,malignant,benign`; errors still name the file's own line numbers.
        SkipLines: int
        Header: bool
        Separator: char
        Label: LabelColumn
        Labels: Labels
    }

    /// Nothing skipped, a header line, comma-separated, the label in the last column, class names as text.
    let defaults = { SkipLines = 0; Header = true; Separator = ','; Label = Last; Labels = Names }

    let private labelColumn file (options: Options) (reference: Reading.Line) =
        let width = reference.Fields.Length
        let where = Reading.at reference.Number 1

        match options.Label with
        | Last -> width - 1
        | Index i when i >= 0 && i < width -> i
        | Index i ->
            Reading.fail file where (sprintf "label column index %d is out of range: the rows have %d fields" i width)
        | Name name when not options.Header ->
            invalidArg (nameof options) (sprintf "label column \"%s\" is named but Header is false" name)
        | Name name ->
            match Array.IndexOf(reference.Fields, name) with
            | -1 ->
                let shown =
                    reference.Fields
                    |> Array.truncate 5
                    |> Array.map Excerpt.text
                    |> String.concat ", "

                let more = if reference.Fields.Length > 5 then ", ..." else ""
                Reading.fail file where (sprintf "no column is named \"%s\"; the header has %s%s" name shown more)
            | i -> i

    let private classesByName file (rows: Reading.Line[]) column =
        let texts = rows |> Array.map (fun row -> row.Fields[column])

        rows
        |> Array.tryFind (fun row -> row.Fields[column] = "")
        |> Option.iter (fun row -> Reading.fail file (Reading.at row.Number (column + 1)) "the label is empty")

        let names =
            texts
            |> Array.distinct
            |> Array.sortWith (fun a b -> String.CompareOrdinal(a, b))

        let index = names |> Array.mapi (fun i name -> name, i) |> dict
        texts |> Array.map (fun text -> index[text]), names

    /// Without a declared count, the count is the largest label + 1, bounded by the rows: a file
    /// cannot show more classes than it has rows, and a stray huge label must not become millions
    /// of class names.
    let private classesByIndex file (rows: Reading.Line[]) column classes =
        let labels =
            rows |> Array.map (fun row -> Reading.classIndex file row column classes)

        let count =
            classes
            |> Option.defaultWith (fun () ->
                let largest = Array.max labels

                if int64 largest >= int64 rows.Length then
                    let row = rows[Array.IndexOf(labels, largest)]

                    let problem =
                        sprintf
                            "label %d would mean %d classes, more than the %d rows can show; with Labels = Indices None the class count must not exceed the rows (declare it with Indices (Some n) if the file is one part of a larger set)"
                            largest
                            (int64 largest + 1L)
                            rows.Length

                    Reading.fail file (Reading.at row.Number (column + 1)) problem

                largest + 1)

        labels, Array.init count string

    /// The data set in a delimited text read from `reader`; `file` names it in errors.
    let read (options: Options) (file: string) (reader: TextReader) : Dataset =
        if options.SkipLines < 0 then
            invalidArg (nameof options) (sprintf "SkipLines must be 0 or more, found %d" options.SkipLines)

        let _, lines = Reading.lines file options.Separator options.SkipLines reader

        if lines.Length = 0 && options.SkipLines > 0 then
            Reading.fail
                file
                (Reading.at (options.SkipLines + 1) 1)
                (sprintf "no data follow the %d skipped lines" options.SkipLines)

        if lines.Length = 0 then
            Reading.fail file (Reading.at 1 1) "the file is empty"

        let reference = lines[0]
        let rows = if options.Header then lines[1..] else lines

        if rows.Length = 0 then
            Reading.fail file (Reading.at (reference.Number + 1) 1) "no data rows follow the header"

        if reference.Fields.Length < 2 then
            Reading.fail file (Reading.at reference.Number 1) "rows need at least one feature besides the label"

        let why =
            sprintf " as %s line %d" (if options.Header then "in the header on" else "on") reference.Number

        rows |> Array.iter (Reading.checkWidth file reference.Fields.Length why)
        let label = labelColumn file options reference

        let featureColumns =
            [| 0 .. reference.Fields.Length - 1 |] |> Array.except [ label ]

        let labels, classNames =
            match options.Labels with
            | Names -> classesByName file rows label
            | Indices classes -> classesByIndex file rows label classes

        {
            Name = nonNull (Path.GetFileName file)
            Features = Reading.features file rows featureColumns
            Rows = rows.Length
            Columns = featureColumns.Length
            Labels = labels
            ClassNames = classNames
            FeatureNames =
                featureColumns
                |> Array.map (fun c -> if options.Header then reference.Fields[c] else sprintf "column %d" (c + 1))
        }

    /// The data set in a delimited text file, plain or gzip.
    let load (options: Options) (path: string) : Dataset =
        use file = File.OpenRead path
        use reader = Reading.textOf path file
        read options path reader

/// MNIST's IDX format: an images file and a labels file, each plain or gzip (detected by the magic
/// bytes), so the original downloads load unchanged. Pixels keep their raw byte values 0..255;
/// scaling is a separate transform fitted on the training part.
module Idx =

    let private at offset = sprintf "byte %d" offset

    /// The dimensions in an IDX header of unsigned bytes, checked against the data that follow it.
    /// Everything is validated before anything is allocated from the header's numbers.
    let private dimensions path (bytes: byte[]) : int[] =
        if bytes.Length < 4 then
            Reading.fail path (at 0) (sprintf "%d bytes are too few for an IDX magic number" bytes.Length)

        if bytes[0] <> 0uy || bytes[1] <> 0uy then
            let problem =
                sprintf "not an IDX file: the magic number must start 00 00, found %02x %02x" bytes[0] bytes[1]

            Reading.fail path (at 0) problem

        if bytes[2] <> 0x08uy then
            let problem =
                sprintf "element type 0x%02x is not supported, only unsigned bytes (0x08) as in MNIST" bytes[2]

            Reading.fail path (at 2) problem

        let count = int bytes[3]
        let dataStart = 4 + 4 * count

        if count = 0 then
            Reading.fail path (at 3) "an IDX file needs at least one dimension, found 0"

        if bytes.Length < dataStart then
            let problem =
                sprintf "%d dimensions need a %d-byte header, the file has %d bytes" count dataStart bytes.Length

            Reading.fail path (at 3) problem

        let dims =
            Array.init count (fun i -> BinaryPrimitives.ReadInt32BigEndian(ReadOnlySpan(bytes, 4 + 4 * i, 4)))

        dims
        |> Array.tryFindIndex (fun d -> d < 0)
        |> Option.iter (fun i -> Reading.fail path (at (4 + 4 * i)) (sprintf "dimension %d is negative (%d)" i dims[i]))

        // A zero makes an empty file: no items, or items without a single value (no feature columns).
        dims
        |> Array.tryFindIndex (fun d -> d = 0)
        |> Option.iter (fun i ->
            let what =
                if i = 0 then "the file holds no items" else "each item would hold no values"

            Reading.fail path (at (4 + 4 * i)) (sprintf "dimension %d is 0: %s" i what))

        let needed = dims |> Array.fold (fun product d -> product * bigint d) 1I

        let available = bytes.Length - dataStart

        if needed <> bigint available then
            let shape = dims |> Array.map string |> String.concat "×" |> Excerpt.text

            let problem =
                sprintf "dimensions %s need %O bytes of data, the file has %d" shape needed available

            Reading.fail path (at dataStart) problem

        dims

    /// A file's dimensions, bytes and where its data start, with the number of dimensions checked.
    let private read path (rank: int -> bool) (expected: string) =
        let bytes = Reading.readAllBytes path
        let dims = dimensions path bytes

        if not (rank dims.Length) then
            Reading.fail path (at 3) (sprintf "expected %s, found %d dimensions" expected dims.Length)

        dims, bytes, 4 + 4 * dims.Length

    /// Every label an index into the class names; the first one out of range is refused at its byte.
    let private labelsOf path (classNames: string[]) (bytes: byte[]) start rows =
        let labels = Array.init rows (fun i -> int bytes[start + i])

        labels
        |> Array.tryFindIndex (fun label -> label >= classNames.Length)
        |> Option.iter (fun i ->
            let names = String.Join(", ", classNames)

            let problem =
                sprintf
                    "label %d is out of range: %d classes are given (%s), so 0..%d"
                    labels[i]
                    classNames.Length
                    names
                    (classNames.Length - 1)

            Reading.fail path (at (start + i)) problem)

        labels

    /// Images (count × any further dimensions, flattened row-major into features) with their labels,
    /// each an index into `classNames`. The names are given, not inferred from the largest label: a
    /// labels file need not hold every class (a small test file may lack the last), yet its parts
    /// must share one class list with the training file's.
    let load (classNames: string[]) (imagesPath: string) (labelsPath: string) : Dataset =
        let dims, pixels, pixelsStart =
            read imagesPath (fun rank -> rank >= 2) "an images file of 2 or more dimensions"

        let counts, labelBytes, labelsStart =
            read labelsPath (fun rank -> rank = 1) "a labels file of 1 dimension"

        let rows = dims[0]

        if counts[0] <> rows then
            Reading.fail labelsPath (at 4) (sprintf "%d labels for the %d images in %s" counts[0] rows imagesPath)

        let columns = (pixels.Length - pixelsStart) / rows
        let labels = labelsOf labelsPath classNames labelBytes labelsStart rows

        {
            Name = nonNull (Path.GetFileName imagesPath)
            Features = Array.init (rows * columns) (fun i -> float32 pixels[pixelsStart + i])
            Rows = rows
            Columns = columns
            Labels = labels
            ClassNames = Array.copy classNames
            FeatureNames = Array.init columns (sprintf "pixel_%d")
        }
