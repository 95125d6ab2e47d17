/// Writing files so that a crash, a full disk or a read-only folder never costs what was there
/// before: every write goes to a temporary file beside its target and is renamed over it whole.
[<RequireQualifiedAccess>]
module Hybrid.Files

open System
open System.IO
open System.Text.RegularExpressions

/// A live write touches its temporary file continuously, so one untouched for this long was left
/// by a writer that died; five minutes is far above any pause between two writes of a buffer.
let staleAfter = TimeSpan.FromMinutes 5.0

/// `.<name>.<32 hex digits>.tmp`: the only files a clean-up ever deletes.
let private anyTemporary =
    Regex(@"^\..+\.[0-9a-f]{32}\.tmp$", RegexOptions.CultureInvariant)

let private nameOf (path: string) = Path.GetFileName path |> nonNull

let private isTemporaryOf (target: string) (name: string) =
    Regex.IsMatch(
        name,
        "^" + Regex.Escape("." + nameOf target + ".") + @"[0-9a-f]{32}\.tmp$",
        RegexOptions.CultureInvariant
    )

let private isStale (file: string) = DateTime.UtcNow - File.GetLastWriteTimeUtc file > staleAfter

/// A clean-up that fails is left for the next write: it must never be the reason a write fails.
let private tryDelete (file: string) =
    try
        File.Delete file
    with
    | :? IOException
    | :? UnauthorizedAccessException -> ()

let private temporaryFor (target: string) =
    Path.Combine(
        Path.GetDirectoryName target |> nonNull,
        sprintf ".%s.%s.tmp" (nameOf target) (Guid.NewGuid().ToString "N")
    )

// errno on Linux and macOS, HRESULT on Windows: .NET puts the system's code in HResult.
let private diskFull =
    set [
        28 (* ENOSPC *)
        122 (* EDQUOT, Linux *)
        69 (* EDQUOT, macOS *)
        0x80070070 (* ERROR_DISK_FULL *)
        0x80070027 (* ERROR_HANDLE_DISK_FULL *)
    ]

let private readOnly = set [ 30 (* EROFS *) ; 0x80070013 (* ERROR_WRITE_PROTECT *) ]

/// Free bytes on the file system holding `path` (the mount whose root is its longest prefix), when known.
let private freeBytes (path: string) =
    let within (root: string) =
        (path.TrimEnd '/' + "/").StartsWith(root.TrimEnd '/' + "/", StringComparison.Ordinal)

    try
        DriveInfo.GetDrives()
        |> Array.filter (fun d -> within d.RootDirectory.FullName)
        |> Array.sortByDescending (fun d -> d.RootDirectory.FullName.Length)
        |> Array.tryHead
        |> Option.map (fun d -> d.AvailableFreeSpace)
    with
    | :? IOException
    | :? UnauthorizedAccessException -> None

/// SQLite reports a full disk under its WAL as a plain I/O error (SQLITE_IOERR), so a generic fault
/// on a disk with less than this left is reported as a full disk, with the free space measured.
let private nearlyFull = 1L <<< 20

/// The problem in plain words. A driver that knows its own codes (the store's, for SQLite) says
/// them itself through `cannotWriteBecause`.
let private plainWords (file: string) (e: exn) =
    match e with
    | :? IOException as e when diskFull.Contains e.HResult -> "the disk is full"
    | :? IOException as e when readOnly.Contains e.HResult -> "the file system is read-only"
    | :? UnauthorizedAccessException -> "permission denied"
    | _ ->
        match freeBytes file with
        | Some free when free < nearlyFull -> sprintf "the disk is full (%d KiB free)" (free / 1024L)
        | _ -> "the system refused the write"

/// True for the errors a disk or file system gives, as opposed to a bug or bad input.
let isDiskFault (e: exn) =
    match e with
    | :? IOException
    | :? UnauthorizedAccessException -> true
    | _ -> false

/// The disk's refusal `e`, put in plain words by the caller, as a FileWriteException naming `file`
/// with the system's own message after the words.
let cannotWriteBecause (file: string) (plain: string) (e: exn) =
    FileWriteException(file, sprintf "%s (%s)" plain e.Message, e)

/// The disk's refusal `e` as a FileWriteException naming `file`.
let cannotWrite (file: string) (e: exn) = cannotWriteBecause file (plainWords (Path.GetFullPath file) e) e

/// Runs `work`, raising instead of an error what `explain` makes of it (a disk's refusal in plain
/// words); an error it does not recognise goes through unchanged.
let explaining (explain: exn -> FileWriteException option) (work: unit -> 'a) : 'a =
    try
        work ()
    with
    | :? FileWriteException -> reraise ()
    | e ->
        match explain e with
        | Some fault -> raise fault
        | None -> reraise ()

/// The disk's refusal `e` as a FileWriteException naming `file`; None for any other error.
let explainFault (file: string) (e: exn) = if isDiskFault e then Some(cannotWrite file e) else None

/// Runs `work`, turning a disk's refusal into a FileWriteException naming `file`.
let explainingDiskFaults (file: string) (work: unit -> 'a) : 'a = explaining (explainFault file) work

/// Deletes temporary files of `target` left by writers that died.
let removeStaleTemporaries (target: string) =
    let directory = Path.GetDirectoryName target |> nonNull

    if Directory.Exists directory then
        Directory.EnumerateFiles(directory, sprintf ".%s.*.tmp" (nameOf target))
        |> Seq.filter (fun file -> isTemporaryOf target (nameOf file) && isStale file)
        |> Seq.iter tryDelete

/// Deletes every stale temporary file under `directory`, for targets that may never be written again.
let removeStaleTemporariesUnder (directory: string) =
    if Directory.Exists directory then
        Directory.EnumerateFiles(directory, ".*.tmp", SearchOption.AllDirectories)
        |> Seq.filter (fun file -> anyTemporary.IsMatch(nameOf file) && isStale file)
        |> Seq.iter tryDelete

/// Creates `directory` if needed and proves a file can be written there, so a sweep on a read-only
/// or full disk stops before its first trial with a FileWriteException naming the folder.
let requireWritable (directory: string) =
    let probe = temporaryFor (Path.Combine(directory, "write-probe"))

    explainingDiskFaults directory (fun () ->
        Directory.CreateDirectory directory |> ignore

        try
            use stream =
                new FileStream(
                    probe,
                    FileMode.CreateNew,
                    FileAccess.Write,
                    FileShare.None,
                    1,
                    FileOptions.WriteThrough
                )

            stream.WriteByte 0uy
        finally
            if File.Exists probe then
                File.Delete probe)

/// Writes `path` through `write`: into a temporary file beside it, flushed to disk, then renamed over
/// it, so `path` holds either its old content or the whole new one. Creates the directory if missing.
/// A write the disk refuses raises a FileWriteException naming `path`; the temporary file is deleted.
let writeAtomically (path: string) (write: Stream -> unit) =
    let target = Path.GetFullPath path

    if isNull (Path.GetDirectoryName target) then
        invalidArg (nameof path) (sprintf "'%s' is a root directory, not a file path" path)

    let temporary = temporaryFor target

    try
        explainingDiskFaults target (fun () ->
            Directory.CreateDirectory(Path.GetDirectoryName target |> nonNull) |> ignore
            removeStaleTemporaries target

            do
                use stream =
                    new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 <<< 16)

                write stream
                stream.Flush true

            File.Move(temporary, target, true))
    finally
        // One that cannot be deleted now is stale later, and the next write of the target removes it.
        if File.Exists temporary then
            tryDelete temporary
