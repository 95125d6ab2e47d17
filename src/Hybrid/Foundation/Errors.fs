namespace Hybrid

open System

/// Raised for any file Hybrid cannot read: names the file, where in it (line, column, field or
/// byte offset, when known) and what was expected against what was found.
type InvalidFileException(file: string, location: string, problem: string) =
    inherit
        Exception(
            if String.IsNullOrEmpty location then
                sprintf "%s: %s" file problem
            else
                sprintf "%s, %s: %s" file location problem
        )

    member _.File = file
    member _.Location = location
    member _.Problem = problem

/// Raised when the run store refuses an operation or cannot be reached: names the store (a file, or
/// a PostgreSQL server and database — never its password) and the problem.
type StoreException(store: string, problem: string) =
    inherit Exception(sprintf "run store %s: %s" store problem)

    member _.Store = store
    member _.Problem = problem

/// Raised when Hybrid cannot write a file or a run store: names it and the problem in plain words
/// (the disk is full, the file system is read-only), with the system's error inside. Whatever the
/// file held before stays as it was. An IOException, so code that handles disk errors catches it.
type FileWriteException(file: string, problem: string, inner: exn) =
    inherit IO.IOException(sprintf "%s: cannot write: %s" file problem, inner)

    member _.File = file
    member _.Problem = problem

/// Input quoted in an error message: whole when short, otherwise its first characters and its
/// length, so that a 10 MB field or a 1 MB tensor name cannot make a 10 MB message.
[<RequireQualifiedAccess>]
module internal Excerpt =

    let private limit = 60

    let text (input: string) =
        if input.Length <= limit then
            input
        else
            // Never cut between the two halves of a surrogate pair.
            let cut = if Char.IsHighSurrogate input[limit - 1] then limit - 1 else limit

            sprintf "%s... (%d characters)" (input.Substring(0, cut)) input.Length
