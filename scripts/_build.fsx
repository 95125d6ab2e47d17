// Builds the library in Release when any source is newer than the built DLL, so every script runs
// from a fresh clone against the repository's own code (never a published package).
open System
open System.Diagnostics
open System.IO

let private root = Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, ".."))

let private library =
    Path.Combine(root, "src", "Hybrid", "bin", "Release", "net10.0", "Hybrid.dll")

let private newestSource () =
    [ "src"; "Directory.Build.props"; "Directory.Packages.props" ]
    |> Seq.map (fun p -> Path.Combine(root, p))
    |> Seq.collect (fun p ->
        if Directory.Exists p then
            Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories)
            |> Seq.filter (fun f -> not (f.Contains "/bin/" || f.Contains "/obj/"))
        else
            Seq.singleton p)
    |> Seq.map File.GetLastWriteTimeUtc
    |> Seq.max

let private runToEnd (arguments: string list) =
    let info = ProcessStartInfo "dotnet"
    arguments |> List.iter info.ArgumentList.Add
    use child = Process.Start info
    child.WaitForExit()
    child.ExitCode

let private build () =
    eprintfn "Building the Hybrid library (Release)..."

    let code =
        runToEnd [
            "build"
            Path.Combine(root, "src", "Hybrid")
            "-c"
            "Release"
            "-v"
            "quiet"
            "-nologo"
            "-clp:NoSummary"
        ]

    if code <> 0 then
        eprintfn "building src/Hybrid failed (exit code %d): see the compiler's messages above" code
        exit code
    // MSBuild may skip recompiling Hybrid.dll when only the engine changed; mark the build as current.
    File.SetLastWriteTimeUtc(library, DateTime.UtcNow)

// fsi reads the metadata of a library that already exists before this file runs, so after
// rebuilding a stale one the script starts again in a fresh process to see the new code.
let private restart () =
    match List.ofArray fsi.CommandLineArgs with
    | script :: arguments -> exit (runToEnd ([ "fsi"; script ] @ (if arguments.IsEmpty then [] else "--" :: arguments)))
    | [] -> ()

if not (File.Exists library) then
    build ()
elif newestSource () > File.GetLastWriteTimeUtc library then
    build ()
    restart ()
