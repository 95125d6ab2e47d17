/// Reading gzip so that damage is always noticed. .NET's GZipStream checks a member's trailer only
/// when it reaches it: a file cut short simply ends early, and a reader would take the rows before
/// the cut as the whole data set. So the trailer (CRC-32 and length of the content, RFC 1952) is
/// checked here against everything decompressed, and every decoding error names the file.
module internal Hybrid.Gzip

open System
open System.Buffers.Binary
open System.IO
open System.IO.Compression

/// The CRC-32 of ISO 3309 that gzip uses: reflected polynomial 0xEDB88320, one table entry per byte.
let private crcTable =
    Array.init 256 (fun n ->
        (uint32 n, [ 1..8 ])
        ||> List.fold (fun c _ -> if c &&& 1u = 1u then 0xEDB88320u ^^^ (c >>> 1) else c >>> 1))

/// Extends a CRC-32 (start from 0) over more bytes.
let crc32 (crc: uint32, bytes: ReadOnlySpan<byte>) =
    let mutable c = ~~~crc

    for b in bytes do
        c <- crcTable[int ((c ^^^ uint32 b) &&& 0xFFu)] ^^^ (c >>> 8)

    ~~~c

/// A 10-byte header and an 8-byte trailer around at least an empty deflate block.
let private smallestMember = 20L

let private fail file location problem : 'a = raise (InvalidFileException(file, location, problem))

/// The decompressed content of one gzip member; at its end the trailer read from the file's last
/// eight bytes must match the CRC-32 and the length of what came out, or the file is refused.
type private Verified(file: string, compressed: Stream) =
    inherit Stream()

    let trailerAt = compressed.Length - 8L

    let expectedCrc, expectedLength =
        let trailer = Array.zeroCreate<byte> 8
        compressed.Position <- trailerAt
        compressed.ReadExactly(Span trailer)
        compressed.Position <- 0L

        BinaryPrimitives.ReadUInt32LittleEndian(ReadOnlySpan(trailer, 0, 4)),
        BinaryPrimitives.ReadUInt32LittleEndian(ReadOnlySpan(trailer, 4, 4))

    let content = new GZipStream(compressed, CompressionMode.Decompress)
    let mutable crc = 0u
    let mutable length = 0L

    let check () =
        // The trailer stores the length modulo 2^32.
        if crc <> expectedCrc || uint32 length <> expectedLength then
            let problem =
                sprintf
                    "the gzip content does not match the trailer (CRC-32 %08x and length %d in the file, %08x and %d decompressed): the file is cut short or damaged, or holds more than one gzip member"
                    expectedCrc
                    expectedLength
                    crc
                    (uint32 length)

            fail file (sprintf "byte %d" trailerAt) problem

    override _.Read(buffer: Span<byte>) =
        let count =
            try
                content.Read buffer
            with :? InvalidDataException as e ->
                fail file "" (sprintf "not a valid gzip stream (%s)" e.Message)

        crc <- crc32 (crc, Span<byte>.op_Implicit(buffer.Slice(0, count)))
        length <- length + int64 count

        if count = 0 && buffer.Length > 0 then
            check ()

        count

    override this.Read(buffer: byte[], offset: int, count: int) = this.Read(Span(buffer, offset, count))
    override _.CanRead = true
    override _.CanSeek = false
    override _.CanWrite = false
    override _.Length = raise (NotSupportedException())

    override _.Position
        with get () = raise (NotSupportedException())
        and set _ = raise (NotSupportedException())

    override _.Flush() = ()
    override _.Seek(_, _) = raise (NotSupportedException())
    override _.SetLength _ = raise (NotSupportedException())
    override _.Write(_: byte[], _: int, _: int) = raise (NotSupportedException())

    override _.Dispose disposing =
        if disposing then
            content.Dispose()

        base.Dispose disposing

/// The stream's content, decompressed and verified when it starts with the gzip magic bytes 1f 8b,
/// so that callers never depend on a file's extension; `file` names it in errors. The stream must
/// be seekable, to peek at the magic and to read the trailer.
let decompressed (file: string) (stream: Stream) : Stream =
    let first = stream.ReadByte()
    let second = stream.ReadByte()
    stream.Position <- 0L

    if first <> 0x1f || second <> 0x8b then
        stream
    elif stream.Length < smallestMember then
        fail
            file
            ""
            (sprintf
                "%d bytes are too few for a gzip member (header, data and trailer need %d)"
                stream.Length
                smallestMember)
    else
        new Verified(file, stream)
