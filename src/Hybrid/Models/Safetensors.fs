/// The Hugging Face safetensors checkpoint format, F32 tensors only: an 8-byte little-endian header
/// length N, N bytes of UTF-8 JSON header ({"name": {"dtype", "shape", "data_offsets"}, optional
/// "__metadata__": {string: string}}), then the data buffer, each tensor row-major and little-endian.
module Hybrid.Safetensors

open System
open System.Buffers
open System.Buffers.Binary
open System.IO
open System.Runtime.InteropServices
open System.Text
open System.Text.Encodings.Web
open System.Text.Json

type Tensor = { Name: string; Shape: int list; Data: float32[] }

type Checkpoint = { Tensors: Tensor list; Metadata: Map<string, string> }

/// The reference implementation refuses larger headers; so do we, before allocating one.
let private maxHeaderBytes = 100_000_000L

/// A valid header nests three deep (root → tensor entry → shape); one level of slack lets a
/// slightly wrong entry get a precise message, while a hostile file still cannot nest further.
let private maxJsonDepth = 4

let private metadataKey = "__metadata__"
let private lengthFieldBytes = 8L
let private bytesPerValue = 4L
let private entryFields = [ "data_offsets"; "dtype"; "shape" ]

/// Every dtype the safetensors format defines other than F32, so a file from PyTorch in half
/// precision is told apart from a corrupt dtype.
let private otherDtypes =
    set [
        "BOOL"
        "U8"
        "I8"
        "F8_E5M2"
        "F8_E4M3"
        "F8_E8M0"
        "F4"
        "F6_E2M3"
        "F6_E3M2"
        "I16"
        "U16"
        "F16"
        "BF16"
        "I32"
        "U32"
        "F64"
        "C64"
        "I64"
        "U64"
    ]

/// Throws on lone surrogates instead of silently turning them into U+FFFD, which could make two
/// distinct names collide in the file.
let private strictUtf8 = UTF8Encoding(false, true)

/// Span lengths are int32, so a tensor larger than 2 GB moves in slices of this many values.
let private sliceValues = 1 <<< 20

let private slices (length: int) = seq {
    for start in 0..sliceValues .. length - 1 -> start, min sliceValues (length - start)
}

let private formatShape (shape: int64 list) =
    shape |> List.map string |> String.concat ", " |> Excerpt.text |> sprintf "[%s]"

/// The product of the dimensions, or None when it overflows int64 (the reference rejects those).
let private tryProduct (dims: int64 list) =
    let multiply product dim =
        product
        |> Option.bind (fun p -> if dim <> 0L && p > Int64.MaxValue / dim then None else Some(p * dim))

    dims |> List.fold multiply (Some 1L)

let private sortByName (tensors: Tensor list) =
    tensors |> List.sortWith (fun a b -> String.CompareOrdinal(a.Name, b.Name))

// ---------------------------------------------------------------------------------------------
// Writing

let private invalidInput (problem: string) = raise (ArgumentException(problem, "checkpoint"))

let private invalidTensor (name: string) (problem: string) = invalidInput (sprintf "tensor '%s': %s" name problem)

let private checkText (what: string) (text: string) =
    try
        strictUtf8.GetByteCount text |> ignore
    with :? EncoderFallbackException ->
        invalidInput (sprintf "%s %A is not valid Unicode (it contains a lone surrogate)" what text)

let private checkTensor (t: Tensor) =
    if String.IsNullOrEmpty t.Name then
        invalidInput "tensor name is empty (expected a non-empty name)"

    if t.Name = metadataKey then
        invalidInput (sprintf "tensor name '%s' is reserved for metadata" metadataKey)

    checkText "tensor name" t.Name
    let dims = t.Shape |> List.map int64

    match t.Shape |> List.tryFind (fun d -> d < 0) with
    | Some d -> invalidTensor t.Name (sprintf "shape %s has negative dimension %d" (formatShape dims) d)
    | None -> ()

    match tryProduct dims with
    | Some n when n = int64 t.Data.Length -> ()
    | product ->
        let expected = product |> Option.map string |> Option.defaultValue "more than 2^63"
        let found = sprintf "Data has %d" t.Data.Length
        invalidTensor t.Name (sprintf "shape %s needs %s values but %s" (formatShape dims) expected found)

let private checkUniqueNames (tensors: Tensor list) =
    match tensors |> List.countBy _.Name |> List.tryFind (fun (_, count) -> count > 1) with
    | Some(name, count) -> invalidTensor name (sprintf "appears %d times (expected unique names)" count)
    | None -> ()

/// Byte offsets of each tensor in the data buffer: contiguous, in the given order, no gaps.
let private dataOffsets (tensors: Tensor list) =
    let ends =
        tensors
        |> List.scan (fun offset t -> offset + int64 t.Data.Length * bytesPerValue) 0L

    List.zip (List.take tensors.Length ends) (List.tail ends)

let private headerJson (metadata: Map<string, string>) (tensors: Tensor list) =
    let buffer = ArrayBufferWriter<byte>()
    // The reference writer (serde_json) emits non-ASCII names as raw UTF-8, not \u escapes.
    let options =
        JsonWriterOptions(Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping)

    do
        use json = new Utf8JsonWriter(buffer, options)
        json.WriteStartObject()

        if not metadata.IsEmpty then
            json.WriteStartObject metadataKey
            metadata |> Map.iter (fun key value -> json.WriteString(key, value))
            json.WriteEndObject()

        for t, (first, last) in List.zip tensors (dataOffsets tensors) do
            json.WriteStartObject t.Name
            json.WriteString("dtype", "F32")
            json.WriteStartArray "shape"
            t.Shape |> List.iter json.WriteNumberValue
            json.WriteEndArray()
            json.WriteStartArray "data_offsets"
            json.WriteNumberValue first
            json.WriteNumberValue last
            json.WriteEndArray()
            json.WriteEndObject()

        json.WriteEndObject()

    buffer.WrittenSpan.ToArray()

/// Trailing spaces make 8 + N a multiple of 8, so the data buffer starts aligned.
let private padded (header: byte[]) = Array.append header (Array.create ((8 - header.Length % 8) % 8) (byte ' '))

/// Validates everything before anything is written; returns the padded header and the tensors in
/// file order (sorted by name, as the reference writer does for a single dtype).
let private prepare (checkpoint: Checkpoint) =
    checkpoint.Tensors |> List.iter checkTensor
    checkUniqueNames checkpoint.Tensors

    checkpoint.Metadata
    |> Map.iter (fun key value ->
        checkText "metadata key" key
        checkText (sprintf "metadata value of '%s'" key) value)

    let tensors = sortByName checkpoint.Tensors
    let header = headerJson checkpoint.Metadata tensors |> padded

    if int64 header.Length > maxHeaderBytes then
        invalidInput (
            sprintf "header would be %d bytes, over the %d-byte limit readers enforce" header.Length maxHeaderBytes
        )

    header, tensors

// safetensors and every platform .NET supports are little-endian, so a float32[]'s bytes are the
// file's bytes.
let private writeTensor (stream: Stream) (t: Tensor) =
    for start, count in slices t.Data.Length do
        stream.Write(MemoryMarshal.AsBytes(ReadOnlySpan(t.Data, start, count)))

let private writePrepared (stream: Stream) (header: byte[], tensors: Tensor list) =
    let lengthField = Array.zeroCreate<byte>(int lengthFieldBytes)
    BinaryPrimitives.WriteUInt64LittleEndian(Span lengthField, uint64 header.Length)
    stream.Write lengthField
    stream.Write header
    tensors |> List.iter (writeTensor stream)

/// The file's bytes; raises ArgumentException naming the tensor when the checkpoint is invalid.
let toBytes (checkpoint: Checkpoint) : byte[] =
    let prepared = prepare checkpoint
    use stream = new MemoryStream()
    writePrepared stream prepared
    stream.ToArray()

/// Writes atomically (see Files.writeAtomically): `path` holds either the old file or the whole new
/// one, and a disk that refuses the write raises a FileWriteException naming `path`.
let write (path: string) (checkpoint: Checkpoint) : unit =
    let prepared = prepare checkpoint
    Files.writeAtomically path (fun stream -> writePrepared stream prepared)

// ---------------------------------------------------------------------------------------------
// Reading: every number from the file is checked before anything is allocated by it.

/// A tensor entry of the header, validated against the data buffer but not yet read.
type private Entry = { Name: string; Shape: int list; Begin: int64; End: int64 }

let private fail file location problem : 'a = raise (InvalidFileException(file, location, problem))

let private fieldLocation name = sprintf "header field '%s'" (Excerpt.text name)

let private invalidEntry file name problem : 'a = fail file (fieldLocation name) problem

let private found = JsonReading.found

let private tryNonNegative (value: JsonElement) =
    if value.ValueKind <> JsonValueKind.Number then
        None
    else
        match value.TryGetInt64() with
        | true, n when n >= 0L -> Some n
        | _ -> None

let private readLengthField file (stream: Stream) =
    if stream.Length < lengthFieldBytes then
        fail file "" (sprintf "file is %d bytes, shorter than the 8-byte header length field" stream.Length)

    let field = Array.zeroCreate<byte>(int lengthFieldBytes)
    stream.ReadExactly(Span field)
    let n = BinaryPrimitives.ReadUInt64LittleEndian(ReadOnlySpan field)
    let available = stream.Length - lengthFieldBytes

    if n > uint64 maxHeaderBytes then
        fail file "byte 0" (sprintf "header length %d exceeds the %d-byte limit" n maxHeaderBytes)

    if n > uint64 available then
        fail file "byte 0" (sprintf "header length %d exceeds the %d bytes after the length field" n available)

    int n

let private checkHeaderText file (header: byte[]) =
    if header.Length = 0 || header[0] <> byte '{' then
        let first =
            if header.Length = 0 then "an empty header" else sprintf "byte 0x%02X" header[0]

        fail file "byte 8" (sprintf "header must be a JSON object starting with '{', found %s" first)

    try
        strictUtf8.GetCharCount header |> ignore
    with :? DecoderFallbackException as e ->
        fail file (sprintf "byte %d" (lengthFieldBytes + int64 e.Index)) "header is not valid UTF-8"

let private parseMetadata file (value: JsonElement) =
    let location = fieldLocation metadataKey

    if value.ValueKind <> JsonValueKind.Object then
        fail file location (sprintf "metadata must be a JSON object of strings, found %s" (found value))

    JsonReading.members file location value
    |> List.map (fun (key, value) ->
        let what = sprintf "metadata value of '%s'" (Excerpt.text key)

        match JsonReading.text file location what value with
        | Some text -> key, text
        | None -> fail file location (sprintf "%s must be a JSON string, found %s" what (found value)))
    |> Map.ofList

let private parseDtype file name (value: JsonElement) =
    match JsonReading.text file (fieldLocation name) "dtype" value with
    | None -> invalidEntry file name (sprintf "dtype must be a JSON string, found %s" (found value))
    | Some "F32" -> ()
    | Some known when otherDtypes.Contains known ->
        invalidEntry file name (sprintf "dtype %s is not supported (expected F32)" known)
    | Some _ -> invalidEntry file name (sprintf "dtype %s is unknown (expected F32)" (found value))

let private parseShape file name (value: JsonElement) =
    if value.ValueKind <> JsonValueKind.Array then
        invalidEntry file name (sprintf "shape must be a JSON array, found %s" (found value))

    value.EnumerateArray()
    |> Seq.map (fun dim ->
        match tryNonNegative dim with
        | Some d when d <= int64 Int32.MaxValue -> int d
        | _ ->
            let expected = sprintf "an integer in 0..%d" Int32.MaxValue
            invalidEntry file name (sprintf "shape entry must be %s, found %s" expected (found dim)))
    |> Seq.toList

let private parseOffsets file name (value: JsonElement) =
    let pair =
        if value.ValueKind = JsonValueKind.Array then
            value.EnumerateArray() |> Seq.toList
        else
            []

    match pair |> List.map tryNonNegative with
    | [ Some first; Some last ] -> first, last
    | _ ->
        let expected = sprintf "[begin, end] with integers in 0..%d" Int64.MaxValue
        invalidEntry file name (sprintf "data_offsets must be %s, found %s" expected (found value))

/// Checks one entry on its own: field set, types, dtype, and that shape and offsets agree and fit.
let private parseEntry file (bufferBytes: int64) (name: string, value: JsonElement) =
    let fail' problem = invalidEntry file name problem

    if name = "" then
        fail' "tensor name is empty (expected a non-empty name)"

    if value.ValueKind <> JsonValueKind.Object then
        fail' (sprintf "tensor entry must be a JSON object, found %s" (found value))

    let fields = JsonReading.members file (fieldLocation name) value
    let names = fields |> List.map fst |> List.sort

    if names <> entryFields then
        let listed = names |> List.map Excerpt.text |> String.concat ", " |> Excerpt.text
        fail' (sprintf "has fields [%s], expected exactly [dtype, shape, data_offsets]" listed)

    let field key = fields |> List.find (fun (k, _) -> k = key) |> snd

    parseDtype file name (field "dtype")
    let shape = parseShape file name (field "shape")
    let first, last = parseOffsets file name (field "data_offsets")
    let offsets = sprintf "data_offsets [%d, %d]" first last

    if first > last then
        fail' (sprintf "%s begin after end" offsets)

    if last > bufferBytes then
        fail' (sprintf "%s end beyond data buffer of %d bytes" offsets bufferBytes)

    let dims = shape |> List.map int64

    match tryProduct dims with
    | None -> fail' (sprintf "shape %s has more values than fit in 64 bits" (formatShape dims))
    | Some n when n > int64 Array.MaxLength ->
        fail' (sprintf "shape %s has %d values, more than one array holds (%d)" (formatShape dims) n Array.MaxLength)
    | Some n when n * bytesPerValue <> last - first ->
        let needs = sprintf "needs %d bytes (%d F32 values)" (n * bytesPerValue) n
        fail' (sprintf "shape %s %s but %s span %d bytes" (formatShape dims) needs offsets (last - first))
    | Some _ -> { Name = name; Shape = shape; Begin = first; End = last }

/// The reference rule: sorted by offsets, tensors tile the data buffer exactly, with no overlap,
/// no gap and no bytes left over.
let private checkLayout file (dataStart: int64) (bufferBytes: int64) (entries: Entry list) =
    let step (covered: int64, previous: string) (e: Entry) =
        let offsets = sprintf "data_offsets [%d, %d]" e.Begin e.End

        if e.Begin < covered then
            invalidEntry file e.Name (sprintf "%s overlap tensor '%s', which ends at %d" offsets previous covered)

        if e.Begin > covered then
            let gap = sprintf "bytes %d..%d of the data buffer uncovered" covered e.Begin
            invalidEntry file e.Name (sprintf "%s leave %s (expected the tensor to begin at %d)" offsets gap covered)

        e.End, e.Name

    let covered, _ =
        entries |> List.sortBy (fun e -> e.Begin, e.End) |> List.fold step (0L, "")

    if covered < bufferBytes then
        let problem =
            sprintf "data buffer has %d bytes but tensors cover only %d (expected no extra bytes)" bufferBytes covered

        fail file (sprintf "byte %d" (dataStart + covered)) problem

let private parseHeader file (bufferBytes: int64) (header: byte[]) =
    checkHeaderText file header

    use document =
        JsonReading.parse file "header" "header" maxJsonDepth (ReadOnlyMemory header)

    let properties = JsonReading.members file "header" document.RootElement

    let metadata =
        properties
        |> List.tryFind (fun (key, _) -> key = metadataKey)
        |> Option.map (snd >> parseMetadata file)
        |> Option.defaultValue Map.empty

    let entries =
        properties
        |> List.filter (fun (key, _) -> key <> metadataKey)
        |> List.map (parseEntry file bufferBytes)

    metadata, entries

let private readTensor (stream: Stream) (e: Entry) =
    let data = Array.zeroCreate<float32>(int ((e.End - e.Begin) / bytesPerValue))

    for start, count in slices data.Length do
        stream.ReadExactly(MemoryMarshal.AsBytes(Span(data, start, count)))

    { Tensor.Name = e.Name; Shape = e.Shape; Data = data }

/// Reads from the stream's current position, which must be the file's first byte.
let private readFrom (file: string) (stream: Stream) =
    let headerBytes = readLengthField file stream
    let header = Array.zeroCreate<byte> headerBytes
    stream.ReadExactly(Span header)
    let dataStart = lengthFieldBytes + int64 headerBytes
    let bufferBytes = stream.Length - dataStart
    let metadata, entries = parseHeader file bufferBytes header
    checkLayout file dataStart bufferBytes entries
    // Tiled with no gaps, so reading in offset order is one sequential pass.
    let tensors =
        entries |> List.sortBy (fun e -> e.Begin, e.End) |> List.map (readTensor stream)

    { Tensors = sortByName tensors; Metadata = metadata }

/// Parses a whole file held in memory; `name` identifies it in errors. Tensors come back sorted
/// by name; raises InvalidFileException for anything malformed.
let ofBytes (name: string) (bytes: byte[]) : Checkpoint =
    use stream = new MemoryStream(bytes, false)
    readFrom name stream

/// Reads and validates a checkpoint file; tensors come back sorted by name. Raises
/// InvalidFileException naming the file, the location and the problem for anything malformed.
let read (path: string) : Checkpoint =
    use stream =
        new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 <<< 16, FileOptions.SequentialScan)

    readFrom path stream
