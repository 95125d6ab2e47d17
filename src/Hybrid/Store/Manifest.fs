/// What a run needs to be reproduced elsewhere: the code's commit (and whether the tree had
/// uncommitted changes), the .NET SDK and runtime, the OS and CPU, the packages loaded, the data's
/// hash and the engine's version. Stored with every sweep and shown in every report.
[<RequireQualifiedAccess>]
module Hybrid.Manifest

open System
open System.Diagnostics
open System.IO
open System.Reflection
open System.Runtime.InteropServices
open System.Runtime.Intrinsics
open System.Xml.Linq

/// A command's first output line, or what went wrong: a manifest never fails a sweep.
let private firstLine (file: string) (arguments: string list) =
    try
        let info =
            ProcessStartInfo(file, RedirectStandardOutput = true, RedirectStandardError = true)

        arguments |> List.iter info.ArgumentList.Add
        use p = Process.Start info |> nonNull
        let output = p.StandardOutput.ReadToEnd()
        p.StandardError.ReadToEnd() |> ignore
        p.WaitForExit()

        if p.ExitCode = 0 then
            output.Split("\n") |> Array.head |> _.Trim() |> Some
        else
            None
    with :? ComponentModel.Win32Exception ->
        None

let private git arguments = firstLine "git" ("-C" :: Environment.CurrentDirectory :: arguments)

let private cpu () =
    let model =
        try
            File.ReadLines "/proc/cpuinfo"
            |> Seq.tryFind (fun l -> l.StartsWith "model name")
            |> Option.map (fun l -> l.Substring(l.IndexOf ':' + 1).Trim())
        with
        | :? IOException
        | :? UnauthorizedAccessException -> None

    let simd =
        if Vector512.IsHardwareAccelerated then "AVX-512"
        elif Vector256.IsHardwareAccelerated then "256-bit SIMD"
        else "scalar"

    sprintf
        "%s, %d logical cores, %s"
        (defaultArg model (string RuntimeInformation.ProcessArchitecture))
        Environment.ProcessorCount
        simd

/// The packages the library is built with, as `Directory.Packages.props` pins them (embedded in the
/// library, so the list is never written twice), with their pinned versions.
let pinnedPackages () : (string * string) list =
    use stream =
        typeof<Data>.Assembly.GetManifestResourceStream "Hybrid.Directory.Packages.props"
        |> nonNull

    XDocument.Load(stream).Descendants(XName.Get "PackageVersion")
    |> Seq.map (fun e ->
        (e.Attribute(XName.Get "Include") |> nonNull).Value, (e.Attribute(XName.Get "Version") |> nonNull).Value)
    |> List.ofSeq

/// Each pinned package this process has loaded, and the engine and library, with the version loaded.
let private packages () =
    (pinnedPackages () |> List.map fst) @ [ "Hybrid.Engine"; "Hybrid" ]
    |> List.choose (fun name ->
        AppDomain.CurrentDomain.GetAssemblies()
        |> Array.tryFind (fun a -> a.GetName().Name = name)
        |> Option.map (fun a ->
            let version =
                match a.GetCustomAttribute<AssemblyInformationalVersionAttribute>() with
                | null -> string (a.GetName().Version)
                | v -> v.InformationalVersion

            sprintf "%s %s" name version))
    |> String.concat ", "

/// The manifest as ordered (key, value) pairs.
let collect (data: Data) : (string * string) list =
    let commit =
        git [ "rev-parse"; "HEAD" ]
        |> Option.defaultValue "unknown (not a git checkout)"

    let dirty =
        match git [ "status"; "--porcelain"; "--untracked-files=no" ] with
        | Some "" -> "no"
        | Some _ -> "yes: uncommitted changes"
        | None -> "unknown"

    [
        "git commit", commit
        "uncommitted changes", dirty
        ".NET SDK", firstLine "dotnet" [ "--version" ] |> Option.defaultValue "unknown"
        ".NET runtime", RuntimeInformation.FrameworkDescription
        "OS", RuntimeInformation.OSDescription
        "CPU", cpu ()
        "packages", packages ()
        "engine version", Engine.version
        "data", data.Name
        "data hash", Data.hash data
    ]
