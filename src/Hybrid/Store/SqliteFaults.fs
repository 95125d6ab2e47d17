/// SQLite's refusals of a write, in the file layer's terms: the driver's error codes stay with the
/// store, and the file layer knows only the system's own errors.
[<RequireQualifiedAccess>]
module Hybrid.SqliteFaults

open Microsoft.Data.Sqlite

/// SQLite's codes for a write the disk refused, with plain words where the code says more than the
/// file layer can find out: FULL, READONLY, IOERR (a full disk under WAL looks like this), CANTOPEN.
let private plainWords (code: int) =
    match code with
    | 13 -> Some(Some "the disk is full")
    | 8 -> Some(Some "the file system is read-only or the file is not writable")
    | 10
    | 14 -> Some None
    | _ -> None

/// The disk's refusal `e`, through SQLite or directly, as a FileWriteException naming the database
/// `file`; None for any other error.
let explain (file: string) (e: exn) : FileWriteException option =
    match e with
    | :? SqliteException as s ->
        plainWords s.SqliteErrorCode
        |> Option.map (function
            | Some plain -> Files.cannotWriteBecause file plain e
            | None -> Files.cannotWrite file e)
    | _ -> Files.explainFault file e

/// Runs `work` on the database `file`, turning a disk's refusal into a FileWriteException naming it.
let explaining (file: string) (work: unit -> 'a) : 'a = Files.explaining (explain file) work
