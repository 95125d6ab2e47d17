/// The scripts' prelude references packages by version (a DLL referenced by path does not bring its
/// NuGet dependencies): those versions must be the ones the library is built and tested with.
module Hybrid.Tests.PreludeTests

open System.IO
open System.Text.RegularExpressions
open Expecto

let private root = Path.Combine(__SOURCE_DIRECTORY__, "..", "..")

let private pins =
    Regex.Matches(File.ReadAllText(Path.Combine(root, "Directory.Packages.props")), "PackageVersion Include=\"([^\"]+)\" Version=\"([^\"]+)\"")
    |> Seq.map (fun m -> m.Groups[1].Value, m.Groups[2].Value)
    |> Map.ofSeq

let private preludeReferences =
    Regex.Matches(File.ReadAllText(Path.Combine(root, "scripts", "_load.fsx")), "#r \"nuget: ([^,\"]+), ([^\"]+)\"")
    |> Seq.map (fun m -> m.Groups[1].Value.Trim(), m.Groups[2].Value.Trim())
    |> List.ofSeq

let tests =
    testList "prelude" [
        testCase "references at least the run store's packages" <| fun () ->
            Expect.contains (preludeReferences |> List.map fst) "Microsoft.Data.Sqlite" "SQLite"
        for name, version in preludeReferences do
            testCase (sprintf "%s is referenced at its pinned version" name) <| fun () ->
                match pins.TryFind name with
                | Some pinned -> Expect.equal version pinned (sprintf "_load.fsx has %s %s, Directory.Packages.props pins %s" name version pinned)
                | None -> failtestf "_load.fsx references %s, which Directory.Packages.props does not pin" name
    ]
