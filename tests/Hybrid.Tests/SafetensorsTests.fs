module Hybrid.Tests.SafetensorsTests

open System
open System.Buffers.Binary
open System.IO
open System.Text
open System.Text.Json
open Expecto
open Hybrid
open Hybrid.Safetensors

let private tensor name shape data = { Name = name; Shape = shape; Data = data }

let private sample = {
    Tensors = [
        tensor "W1" [ 2; 3 ] [| 1.0f; -2.5f; 3.25f; 0.0f; 1e-30f; 6e30f |]
        tensor "b1" [ 3 ] [| 0.5f; -0.5f; 7.0f |]
        tensor "scale" [] [| 0.125f |]
        tensor "empty" [ 0; 4 ] [||]
        tensor "layer.0.W" [ 1; 2; 2 ] [| 9.0f; 8.0f; 7.0f; 6.0f |]
    ]
    Metadata = Map [ "format", "hybrid"; "epoch", "3" ]
}

/// What `read` returns for a checkpoint written by `write`: the same, tensors sorted by name.
let private normalized (checkpoint: Checkpoint) = {
    checkpoint with
        Tensors =
            checkpoint.Tensors
            |> List.sortWith (fun a b -> String.CompareOrdinal(a.Name, b.Name))
}

/// Floats compared by bits, so NaN payloads and -0 count too.
let private bits (checkpoint: Checkpoint) =
    let tensorBits t = t.Name, t.Shape, t.Data |> Array.map BitConverter.SingleToInt32Bits

    checkpoint.Tensors |> List.map tensorBits, checkpoint.Metadata

let private withTempDir (body: string -> unit) =
    let dir =
        Path.Combine(Path.GetTempPath(), "hybrid-safetensors-" + Guid.NewGuid().ToString "N")

    Directory.CreateDirectory dir |> ignore

    try
        body dir
    finally
        Directory.Delete(dir, true)

let private lengthField (n: uint64) =
    let field = Array.zeroCreate<byte> 8
    BinaryPrimitives.WriteUInt64LittleEndian(Span field, n)
    field

/// A file with the given header bytes (no padding added) and data buffer.
let private fileWithBytes (header: byte[]) (data: byte[]) =
    Array.concat [ lengthField (uint64 header.Length); header; data ]

let private fileWith (header: string) (data: byte[]) = fileWithBytes (Encoding.UTF8.GetBytes header) data

let private floats (values: float32 list) =
    values
    |> List.collect (fun v -> BitConverter.GetBytes v |> List.ofArray)
    |> Array.ofList

// The valid file every malformed case corrupts: a = [1, 2] at bytes 0..8, b = [3] at 8..12.
let private validHeader =
    """{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"""

let private validData = floats [ 1.0f; 2.0f; 3.0f ]

let private withHeader (old: string) (replacement: string) =
    if not (validHeader.Contains old) then
        failwithf "test setup: %s is not in the valid header" old

    let at = validHeader.IndexOf old

    validHeader.Substring(0, at)
    + replacement
    + validHeader.Substring(at + old.Length)

let private fileName = "corrupt.safetensors"

let private rejection (bytes: byte[]) =
    try
        ofBytes fileName bytes |> ignore
        failtest "expected InvalidFileException, but the file was accepted"
    with :? InvalidFileException as e ->
        e

let private rejects (fragment: string) (bytes: byte[]) =
    let e = rejection bytes
    Expect.equal e.File fileName "the error names the file"
    Expect.stringContains e.Message fragment "the error names the problem"

let private headerLength (bytes: byte[]) = BinaryPrimitives.ReadUInt64LittleEndian(ReadOnlySpan bytes)

let private overwriteLength (n: uint64) (bytes: byte[]) = Array.append (lengthField n) bytes[8..]

let private roundTripTests =
    testList "round trip" [
        testCase "several tensors, a scalar, an empty tensor and metadata through a file"
        <| fun () ->
            withTempDir (fun dir ->
                let path = Path.Combine(dir, "model.safetensors")
                write path sample
                Expect.equal (read path) (normalized sample) "read returns what write stored, sorted by name")

        testCase "through bytes"
        <| fun () -> Expect.equal (sample |> toBytes |> ofBytes "memory") (normalized sample) "ofBytes inverts toBytes"

        testCase "empty checkpoint"
        <| fun () ->
            let empty = { Tensors = []; Metadata = Map.empty }
            Expect.equal (empty |> toBytes |> ofBytes "memory") empty "nothing in, nothing out"

        testCase "NaN payloads, infinities, -0 and subnormals keep their bits"
        <| fun () ->
            let special = [|
                Single.NaN
                BitConverter.Int32BitsToSingle 0x7FC00123
                Single.PositiveInfinity
                Single.NegativeInfinity
                -0.0f
                Single.Epsilon
                Single.MaxValue
                Single.MinValue
            |]

            let checkpoint = { Tensors = [ tensor "x" [ special.Length ] special ]; Metadata = Map.empty }

            Expect.equal (checkpoint |> toBytes |> ofBytes "memory" |> bits) (bits checkpoint) "bit-exact"

        testCase "non-ASCII names and metadata"
        <| fun () ->
            let checkpoint = {
                Tensors = [ tensor "poids.é" [ 1 ] [| 1.0f |]; tensor "层/权重 🚀" [ 1 ] [| 2.0f |] ]
                Metadata = Map [ "auteur", "Zoë"; "note", "quote \" backslash \\ newline \n tab \t" ]
            }

            Expect.equal (checkpoint |> toBytes |> ofBytes "memory") (normalized checkpoint) "text survives"

        testCase "tensor larger than one read slice (3 Mi + 5 values)"
        <| fun () ->
            let data = Array.init (3 * (1 <<< 20) + 5) (fun i -> float32 i * 0.5f)

            let checkpoint = {
                Tensors = [ tensor "big" [ data.Length ] data; tensor "c" [ 1 ] [| 1.0f |] ]
                Metadata = Map.empty
            }

            Expect.equal (checkpoint |> toBytes |> ofBytes "memory") (normalized checkpoint) "every value back"

        testCase "reads entries listed out of offset order and unpadded headers"
        <| fun () ->
            let header =
                """{"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"""

            let expected = {
                Tensors = [ tensor "a" [ 2 ] [| 1.0f; 2.0f |]; tensor "b" [ 1 ] [| 3.0f |] ]
                Metadata = Map.empty
            }

            Expect.equal (fileWith header validData |> ofBytes "memory") expected "layout comes from the offsets"

        testCase "the valid file the malformed cases corrupt is valid"
        <| fun () ->
            let expected = {
                Tensors = [ tensor "a" [ 2 ] [| 1.0f; 2.0f |]; tensor "b" [ 1 ] [| 3.0f |] ]
                Metadata = Map [ "k", "v" ]
            }

            Expect.equal (fileWith validHeader validData |> ofBytes fileName) expected "parses"
    ]

let private goldenTests =
    testList "golden bytes" [
        testCase "empty checkpoint is {} padded to 8 bytes"
        <| fun () ->
            let expected = Array.append (lengthField 8UL) "{}      "B
            Expect.equal (toBytes { Tensors = []; Metadata = Map.empty }) expected "8-byte header"

        testCase "metadata only"
        <| fun () ->
            // {"__metadata__":{"framework":"pt"}} is 35 bytes; 5 spaces make 40.
            let expected =
                Array.append (lengthField 40UL) """{"__metadata__":{"framework":"pt"}}     """B

            Expect.equal (toBytes { Tensors = []; Metadata = Map [ "framework", "pt" ] }) expected "metadata first"

        testCase "two tensors given out of order, a scalar and metadata"
        <| fun () ->
            // Header: 132 bytes of JSON (metadata first, tensors sorted by name, offsets contiguous)
            // + 4 spaces = 136, so the data buffer starts at 8 + 136 = 144 = 18 × 8.
            // Data: a = [1, -2] at bytes 0..8, b = 3 at 8..12, little-endian IEEE 754.
            let header =
                """{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[],"data_offsets":[8,12]}}    """B

            let data = [|
                0x00uy
                0x00uy
                0x80uy
                0x3Fuy // 1.0
                0x00uy
                0x00uy
                0x00uy
                0xC0uy // -2.0
                0x00uy
                0x00uy
                0x40uy
                0x40uy
            |] // 3.0

            let expected =
                Array.concat [ [| 136uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy; 0uy |]; header; data ]

            let checkpoint = {
                Tensors = [ tensor "b" [] [| 3.0f |]; tensor "a" [ 2 ] [| 1.0f; -2.0f |] ]
                Metadata = Map [ "k", "v" ]
            }

            let bytes = toBytes checkpoint
            Expect.equal (headerLength bytes) 136UL "header length field"
            Expect.equal bytes.Length 156 "8 + 136 + 12 bytes"
            Expect.equal bytes expected "byte for byte"
    ]

let private writeValidationTests =
    let invalidCase name (checkpoint: Checkpoint) (fragment: string) =
        testCase name
        <| fun () ->
            let e = Expect.throwsC (fun () -> toBytes checkpoint |> ignore) id
            Expect.isTrue (e :? ArgumentException) (sprintf "ArgumentException, got %s" (e.GetType().Name))
            Expect.stringContains e.Message fragment "the error names the tensor and the problem"

    let only t = { Tensors = [ t ]; Metadata = Map.empty }
    // Built from a char: the F# compiler turns a lone "\uD800" in a literal into U+FFFD.
    let loneSurrogate = string (char 0xD800)

    testList "write rejects" [
        invalidCase
            "shape that disagrees with the data"
            (only (tensor "W1" [ 2; 3 ] (Array.zeroCreate 5)))
            "tensor 'W1': shape [2, 3] needs 6 values but Data has 5"
        invalidCase
            "shape whose product overflows"
            (only (tensor "W1" [ Int32.MaxValue; Int32.MaxValue; Int32.MaxValue ] [||]))
            "needs more than 2^63 values"
        invalidCase "negative dimension" (only (tensor "W1" [ -2; -3 ] (Array.zeroCreate 6))) "negative dimension -2"
        invalidCase
            "duplicate names"
            {
                Tensors = [ tensor "a" [] [| 1.0f |]; tensor "a" [] [| 2.0f |] ]
                Metadata = Map.empty
            }
            "tensor 'a': appears 2 times (expected unique names)"
        invalidCase "empty name" (only (tensor "" [] [| 1.0f |])) "tensor name is empty"
        invalidCase
            "the reserved name __metadata__"
            (only (tensor "__metadata__" [] [| 1.0f |]))
            "reserved for metadata"
        invalidCase "a name with a lone surrogate" (only (tensor ("a" + loneSurrogate) [] [| 1.0f |])) "lone surrogate"
        invalidCase
            "metadata with a lone surrogate"
            { Tensors = []; Metadata = Map [ "k", loneSurrogate ] }
            "lone surrogate"
    ]

let private atomicWriteTests =
    testList "atomic write" [
        testCase "invalid input raises before the old file is touched"
        <| fun () ->
            withTempDir (fun dir ->
                let path = Path.Combine(dir, "model.safetensors")
                write path sample
                let before = File.ReadAllBytes path

                let invalid = { sample with Tensors = [ tensor "W1" [ 2 ] [| 1.0f |] ] }

                Expect.throwsT<ArgumentException> (fun () -> write path invalid) "invalid input"
                Expect.equal (File.ReadAllBytes path) before "old file intact"
                Expect.equal (Directory.GetFiles dir) [| path |] "no temp file left")

        testCase "a failed move leaves no temp file"
        <| fun () ->
            withTempDir (fun dir ->
                // A directory where the file should go makes the final move fail.
                let path = Path.Combine(dir, "model.safetensors")
                Directory.CreateDirectory path |> ignore
                Expect.throws (fun () -> write path sample) "cannot replace a directory"
                Expect.isEmpty (Directory.GetFiles dir) "temp file removed")

        testCase "overwrites an existing file"
        <| fun () ->
            withTempDir (fun dir ->
                let path = Path.Combine(dir, "model.safetensors")
                write path sample

                let smaller = { Tensors = [ tensor "x" [] [| 1.0f |] ]; Metadata = Map.empty }

                write path smaller
                Expect.equal (read path) smaller "new content"
                Expect.equal (Directory.GetFiles dir) [| path |] "one file")

        testCase "creates missing directories"
        <| fun () ->
            withTempDir (fun dir ->
                let path = Path.Combine(dir, "runs", "7", "model.safetensors")
                write path sample
                Expect.equal (read path) (normalized sample) "written and readable")
    ]

/// One named case per kind of malformed file: the bytes, and a fragment the error must contain.
let private malformed name (bytes: byte[]) (fragment: string) = testCase name <| fun () -> rejects fragment bytes

let private valid = fileWith validHeader validData

/// The valid file with one piece of its header replaced.
let private corrupted old replacement = fileWith (withHeader old replacement) validData

let private lengthFieldCases =
    let afterLength = valid.Length - 8

    testList "length field" [
        malformed "file shorter than 8 bytes" valid[..4] "file is 5 bytes, shorter than the 8-byte header length field"
        malformed "empty file" [||] "file is 0 bytes"
        malformed
            "header length beyond the file"
            (overwriteLength (uint64 valid.Length) valid)
            (sprintf "byte 0: header length %d exceeds the %d bytes after the length field" valid.Length afterLength)
        malformed
            "header length absurd"
            (overwriteLength UInt64.MaxValue valid)
            "header length 18446744073709551615 exceeds the 100000000-byte limit"
        malformed
            "header length just over 100 MB"
            (overwriteLength 100_000_001UL valid)
            "exceeds the 100000000-byte limit"
    ]

let private deepMetadata levels = withHeader "\"v\"" (String.replicate levels "[" + String.replicate levels "]")

let private headerTextCases =
    // {"__metadata__":{"k":"v"},"a" puts the tensor name a at header byte 27, file byte 35.
    let invalidUtf8 = Encoding.UTF8.GetBytes validHeader
    invalidUtf8[27] <- 0xFFuy

    testList "header text" [
        malformed
            "header length zero"
            (overwriteLength 0UL valid)
            "header must be a JSON object starting with '{', found an empty header"
        malformed
            "header not an object"
            (fileWith "[1]" [||])
            "header must be a JSON object starting with '{', found byte 0x5B"
        malformed
            "header with leading whitespace"
            (fileWith (" " + validHeader) validData)
            "starting with '{', found byte 0x20"
        malformed "header not valid UTF-8" (fileWithBytes invalidUtf8 validData) "byte 35: header is not valid UTF-8"
        malformed "JSON unterminated" (fileWith (validHeader.TrimEnd '}') validData) "header is not well-formed JSON"
        malformed
            "JSON with trailing garbage"
            (fileWith (validHeader + " x") validData)
            "header is not well-formed JSON"
        malformed "JSON with a trailing comma" (corrupted "[0,8]}" "[0,8],}") "header is not well-formed JSON"
        malformed
            "JSON nested deeper than the limit"
            (fileWith (deepMetadata 4) validData)
            "maximum configured depth of 4"
        malformed "JSON nested 100000 deep" (fileWith (deepMetadata 100_000) validData) "maximum configured depth of 4"
    ]

let private entryCases =
    let bEntry = """{"dtype":"F32","shape":[1],"data_offsets":[8,12]}"""

    testList "tensor entry" [
        malformed
            "entry not an object"
            (corrupted bEntry "[8,12]")
            "header field 'b': tensor entry must be a JSON object, found [8,12]"
        malformed
            "entry missing a field"
            (corrupted ",\"shape\":[1]" "")
            "header field 'b': has fields [data_offsets, dtype], expected exactly [dtype, shape, data_offsets]"
        malformed
            "entry with an extra field"
            (corrupted "[8,12]}" "[8,12],\"extra\":0}")
            "has fields [data_offsets, dtype, extra, shape]"
        malformed
            "entry with a duplicate field"
            (corrupted "[8,12]}" "[8,12],\"dtype\":\"F32\"}")
            "header field 'b': key 'dtype' appears 2 times"
        malformed "empty tensor name" (corrupted "\"b\"" "\"\"") "header field '': tensor name is empty"
        malformed "duplicate tensor names" (corrupted "\"b\"" "\"a\"") "header: key 'a' appears 2 times"
        malformed "duplicate names spelled with an escape" (corrupted "\"b\"" "\"\\u0061\"") "key 'a' appears 2 times"
    ]

let private bDtype dtype = sprintf "\"%s\",\"shape\":[1]" dtype

let private dtypeCases =
    testList "dtype" [
        malformed
            "dtype not a string"
            (corrupted (bDtype "F32") "32,\"shape\":[1]")
            "header field 'b': dtype must be a JSON string, found 32"
        malformed "dtype unknown" (corrupted (bDtype "F32") (bDtype "Q7")) "dtype \"Q7\" is unknown (expected F32)"
        yield!
            [ "F64"; "F16"; "BF16"; "I64"; "I32"; "I16"; "I8"; "U8"; "BOOL"; "F8_E4M3" ]
            |> List.map (fun dtype ->
                malformed
                    (sprintf "dtype %s unsupported" dtype)
                    (corrupted (bDtype "F32") (bDtype dtype))
                    (sprintf "header field 'b': dtype %s is not supported (expected F32)" dtype))
    ]

let private shapeCases =
    let mustBe = "shape entry must be an integer in 0..2147483647"

    testList "shape" [
        malformed "shape not an array" (corrupted "[1]" "1") "shape must be a JSON array, found 1"
        malformed "shape entry negative" (corrupted "[1]" "[-1]") (mustBe + ", found -1")
        malformed "shape entry fractional" (corrupted "[1]" "[1.0]") (mustBe + ", found 1.0")
        malformed "shape entry a string" (corrupted "[1]" "[\"1\"]") (mustBe + ", found \"1\"")
        malformed "shape entry beyond int32" (corrupted "[1]" "[2147483648]") (mustBe + ", found 2147483648")
        malformed
            "shape product overflows"
            (corrupted "[1]" "[2147483647,2147483647,2147483647]")
            "has more values than fit in 64 bits"
        malformed "shape product beyond an array" (corrupted "[1]" "[2147483647,2]") "more than one array holds"
        malformed
            "shape disagrees with offsets"
            (corrupted "[1]" "[2]")
            "header field 'b': shape [2] needs 8 bytes (2 F32 values) but data_offsets [8, 12] span 4 bytes"
    ]

let private offsetCases =
    testList "data_offsets" [
        malformed "offsets not an array" (corrupted "[8,12]" "8") "data_offsets must be [begin, end]"
        malformed "offsets with three entries" (corrupted "[8,12]" "[8,12,12]") "found [8,12,12]"
        malformed "offset negative" (corrupted "[0,8]" "[-8,8]") "found [-8,8]"
        malformed "offset beyond int64" (corrupted "[8,12]" "[8,9223372036854775808]") "found [8,9223372036854775808]"
        malformed
            "offsets begin after end"
            (corrupted "[8,12]" "[12,8]")
            "header field 'b': data_offsets [12, 8] begin after end"
        malformed
            "offsets end beyond the data buffer"
            (corrupted "[8,12]" "[8,400]")
            "header field 'b': data_offsets [8, 400] end beyond data buffer of 12 bytes"
    ]

let private layoutCases =
    let extra = floats [ 4.0f ]

    testList "layout" [
        malformed
            "tensors overlap"
            (fileWith (withHeader "[8,12]" "[4,8]") validData[..7])
            "header field 'b': data_offsets [4, 8] overlap tensor 'a', which ends at 8"
        malformed
            "gap between tensors"
            (fileWith (withHeader "[8,12]" "[12,16]") (Array.append validData extra))
            "header field 'b': data_offsets [12, 16] leave bytes 8..12 of the data buffer uncovered"
        malformed
            "extra bytes after the tensors"
            (fileWith validHeader (Array.append validData extra))
            "byte 153: data buffer has 16 bytes but tensors cover only 12 (expected no extra bytes)"
    ]

let private metadataCases =
    let mustBe =
        "header field '__metadata__': metadata must be a JSON object of strings"

    testList "metadata" [
        malformed "metadata not an object" (corrupted "{\"k\":\"v\"}" "\"k\"") (mustBe + ", found \"k\"")
        malformed "metadata null" (corrupted "{\"k\":\"v\"}" "null") (mustBe + ", found null")
        malformed
            "metadata value not a string"
            (corrupted "\"v\"" "1")
            "metadata value of 'k' must be a JSON string, found 1"
        malformed "metadata with a duplicate key" (corrupted "\"v\"" "\"v\",\"k\":\"w\"") "key 'k' appears 2 times"
    ]

let private malformedTests =
    testList "malformed file" [
        lengthFieldCases
        headerTextCases
        entryCases
        dtypeCases
        shapeCases
        offsetCases
        layoutCases
        metadataCases

        testCase "read names the path"
        <| fun () ->
            withTempDir (fun dir ->
                let path = Path.Combine(dir, "short.safetensors")
                File.WriteAllBytes(path, [| 1uy; 2uy |])
                let e = Expect.throwsC (fun () -> read path |> ignore) id
                Expect.stringContains e.Message (path + ": file is 2 bytes") "path, then problem")
    ]

/// Mutations of a valid file; each must parse or raise InvalidFileException, never anything else.
let private fuzzCase name (mutate: Random -> byte[] -> byte[]) =
    testCase name
    <| fun () ->
        let valid = toBytes sample
        let random = Random 20240917

        let outcomes = [
            for i in 1..2000 ->
                let mutated = mutate random (Array.copy valid)

                try
                    ofBytes "fuzz" mutated |> ignore
                    true
                with
                | :? InvalidFileException -> false
                | e ->
                    let file = Convert.ToBase64String mutated
                    failtestf "mutation %d (base64 %s) raised %s: %s" i file (e.GetType().Name) e.Message
        ]

        Expect.contains outcomes false "some mutations are rejected"

let private headerEnd (bytes: byte[]) = 8 + int (headerLength bytes)

let private jsonBytes = "{}[]\",:-.0123456789eE \\u"B

let private fuzzTests =
    testList "fuzz" [
        fuzzCase "bit flips anywhere" (fun random bytes ->
            for _ in 1 .. random.Next(1, 5) do
                let at = random.Next bytes.Length
                bytes[at] <- bytes[at] ^^^ (1uy <<< random.Next 8)

            bytes)
        fuzzCase "header bytes replaced by JSON punctuation and digits" (fun random bytes ->
            let stop = headerEnd bytes

            for _ in 1 .. random.Next(1, 4) do
                bytes[random.Next(8, stop)] <- jsonBytes[random.Next jsonBytes.Length]

            bytes)
        fuzzCase "truncations" (fun random bytes -> bytes[.. random.Next bytes.Length - 1])
        fuzzCase "header length overwrites" (fun random bytes ->
            let n =
                match random.Next 4 with
                | 0 -> UInt64.MaxValue - uint64 (random.Next 1000)
                | 1 -> uint64 (random.NextInt64())
                | 2 -> uint64 (random.Next(100_000_000, Int32.MaxValue))
                | _ -> uint64 (max 0 (headerEnd bytes - 8 + random.Next(-16, 17)))

            overwriteLength n bytes)
        fuzzCase "extended with random bytes" (fun random bytes ->
            let extra = Array.zeroCreate (random.Next(1, 64))
            random.NextBytes extra
            Array.append bytes extra)
    ]

// Reads the file with nothing but json, struct and numpy, and prints each tensor's shape and values.
let private numpyReader =
    """
import json, struct, sys
import numpy as np
raw = open(sys.argv[1], 'rb').read()
(n,) = struct.unpack('<Q', raw[:8])
assert (8 + n) % 8 == 0, 'data buffer does not start at a multiple of 8'
header = json.loads(raw[8:8 + n].decode('utf-8'))
data = raw[8 + n:]
out = {'__metadata__': header.pop('__metadata__', {})}
covered = 0
for name, info in sorted(header.items(), key=lambda item: item[1]['data_offsets']):
    begin, end = info['data_offsets']
    assert info['dtype'] == 'F32' and begin == covered, name
    covered = end
    array = np.frombuffer(data[begin:end], dtype='<f4').reshape(info['shape'])
    out[name] = {'shape': list(array.shape), 'values': [float(v) for v in array.ravel()]}
assert covered == len(data), 'tensors do not cover the data buffer'
print(json.dumps(out))
"""

/// The checkpoint as NumPy saw it, parsed back from the script's JSON.
let private ofNumpyJson (json: string) =
    use document = JsonDocument.Parse json
    let root = document.RootElement

    let metadata =
        root.GetProperty("__metadata__").EnumerateObject()
        |> Seq.map (fun p -> p.Name, p.Value.GetString() |> nonNull)
        |> Map.ofSeq

    let tensors =
        root.EnumerateObject()
        |> Seq.filter (fun p -> p.Name <> "__metadata__")
        |> Seq.map (fun p ->
            let ints (name: string) =
                p.Value.GetProperty(name).EnumerateArray() |> Seq.map _.GetInt32() |> List.ofSeq

            let values =
                p.Value.GetProperty("values").EnumerateArray()
                |> Seq.map (fun v -> float32 (v.GetDouble()))
                |> Array.ofSeq

            tensor p.Name (ints "shape") values)
        |> List.ofSeq

    normalized { Tensors = tensors; Metadata = metadata }

let private numpyTests =
    testList "numpy" [
        testCase "a NumPy reader using only json, struct and numpy sees the same tensors"
        <| fun () ->
            Python.withNumpy (fun () ->
                withTempDir (fun dir ->
                    let path = Path.Combine(dir, "model.safetensors")
                    write path sample
                    let output = Python.output [ "-c"; numpyReader; path ]
                    Expect.equal (ofNumpyJson output) (normalized sample) "same checkpoint"))
    ]

let tests =
    testList "Safetensors" [
        roundTripTests
        goldenTests
        writeValidationTests
        atomicWriteTests
        malformedTests
        fuzzTests
        numpyTests
    ]
