/// The scripts' prelude references packages by version (a DLL referenced by path does not bring its
/// NuGet dependencies): those versions must be the ones the library is built and tested with.
module Hybrid.Tests.PreludeTests

open System.IO
open System.Text.RegularExpressions
open Expecto

let private root = Path.Combine(__SOURCE_DIRECTORY__, "..", "..")

let private pins =
    Regex.Matches(
        File.ReadAllText(Path.Combine(root, "Directory.Packages.props")),
        "PackageVersion Include=\"([^\"]+)\" Version=\"([^\"]+)\""
    )
    |> Seq.map (fun m -> m.Groups[1].Value, m.Groups[2].Value)
    |> Map.ofSeq

let private preludeReferences =
    Regex.Matches(File.ReadAllText(Path.Combine(root, "scripts", "_load.fsx")), "#r \"nuget: ([^,\"]+), ([^\"]+)\"")
    |> Seq.map (fun m -> m.Groups[1].Value.Trim(), m.Groups[2].Value.Trim())
    |> List.ofSeq

let tests =
    testList "prelude" [
        testCase "the manifest's package list is the one Directory.Packages.props pins"
        <| fun () ->
            Expect.equal (Hybrid.Manifest.pinnedPackages () |> Map.ofList) pins "embedded in the library, as pinned"
        testCase "the manifest names each pinned package this process loaded, with its version"
        <| fun () ->
            let iris: Hybrid.Data = {
                Name = "iris"
                Split =
                    Hybrid.Dataset.iris ()
                    |> Hybrid.Dataset.split { Train = 0.7; Validation = 0.15; Test = 0.15 } 1UL
            }
            // Loaded here, whichever tests ran before.
            [
                typeof<Microsoft.Data.Sqlite.SqliteConnection>
                typeof<Npgsql.NpgsqlConnection>
            ]
            |> List.iter (fun t -> t.Assembly.GetName() |> ignore)

            let packages =
                Hybrid.Manifest.collect iris |> List.find (fst >> (=) "packages") |> snd

            for name in [ "FSharp.Core"; "Microsoft.Data.Sqlite"; "Npgsql"; "Expecto" ] do
                Expect.stringContains packages (sprintf "%s %s" name pins[name]) name

            Expect.isFalse (packages.Contains "xunit") "a package this process never loaded is not named"
        testCase "references at least the run store's packages"
        <| fun () -> Expect.contains (preludeReferences |> List.map fst) "Microsoft.Data.Sqlite" "SQLite"
        for name, version in preludeReferences do
            testCase (sprintf "%s is referenced at its pinned version" name)
            <| fun () ->
                match pins.TryFind name with
                | Some pinned ->
                    Expect.equal
                        version
                        pinned
                        (sprintf "_load.fsx has %s %s, Directory.Packages.props pins %s" name version pinned)
                | None -> failtestf "_load.fsx references %s, which Directory.Packages.props does not pin" name
    ]
