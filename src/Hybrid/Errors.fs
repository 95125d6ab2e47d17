namespace Hybrid

open System

/// Raised for any file Hybrid cannot read: names the file, where in it (line, column, field or
/// byte offset, when known) and what was expected against what was found.
type InvalidFileException(file: string, location: string, problem: string) =
    inherit Exception(
        if String.IsNullOrEmpty location then sprintf "%s: %s" file problem
        else sprintf "%s, %s: %s" file location problem
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
