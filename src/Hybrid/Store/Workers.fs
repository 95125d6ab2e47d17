namespace Hybrid

open System
open System.IO

/// Who holds a claim: machine, process and the process's start, so that a worker on the same machine
/// can tell a dead holder at once instead of waiting for its heartbeat to age.
module Worker =

    let private machine =
        let id =
            if File.Exists "/etc/machine-id" then
                File.ReadAllText("/etc/machine-id").Trim()
            else
                ""

        if id.Length >= 12 then
            sprintf "%s~%s" Environment.MachineName (id.Substring(0, 12))
        else
            Environment.MachineName

    /// The process's start in clock ticks since boot, from Linux's /proc/<pid>/stat (field 22): exact,
    /// where .NET's Process.StartTime is derived from the wall clock. None if there is no such process.
    let private startTicks (pid: int) : string option =
        try
            let stat = File.ReadAllText(sprintf "/proc/%d/stat" pid)
            // Field 2, the command, is in parentheses and may hold spaces: count from the closing one.
            let fields = stat.Substring(stat.LastIndexOf ')' + 2).Split ' '
            if fields.Length > 19 then Some fields[19] else None
        with
        | :? IOException
        | :? UnauthorizedAccessException -> None

    /// This process, as `machine/pid/start` (start "?" where /proc is not available).
    let current =
        let pid = Environment.ProcessId
        sprintf "%s/%d/%s" machine pid (startTicks pid |> Option.defaultValue "?")

    /// True only for a worker of this machine whose process has ended, or whose pid now names another process.
    let isDeadHere (worker: string) =
        match worker.Split '/' with
        | [| host; pid; start |] when host = machine && start <> "?" ->
            match Int32.TryParse pid with
            | true, pid -> startTicks pid <> Some start
            | _ -> false
        | _ -> false
