/// JSON from a file read so that every surprise in valid JSON — a repeated key, a null or another
/// kind of value where a string or a number belongs, an escaped lone surrogate, deep nesting — is
/// an InvalidFileException naming the file and the place, never an exception of the JSON library.
module internal Hybrid.JsonReading

open System
open System.Text.Json

let private fail file location problem : 'a = raise (InvalidFileException(file, location, problem))

/// The JSON text of a value as found in the file, cut short for a message.
let found (value: JsonElement) = value.GetRawText() |> Excerpt.text

/// Parses `utf8`, nested at most `maxDepth` deep; `where` names the text in locations ("header"),
/// `what` in the problem.
let parse file (where: string) (what: string) (maxDepth: int) (utf8: ReadOnlyMemory<byte>) =
    try
        JsonDocument.Parse(utf8, JsonDocumentOptions(MaxDepth = maxDepth))
    with :? JsonException as e ->
        // The parser appends its own position; it goes into the location instead.
        let cut = e.Message.IndexOf " LineNumber:"
        let problem = if cut < 0 then e.Message else e.Message.Substring(0, cut)
        let line = e.LineNumber |> Option.ofNullable |> Option.defaultValue 0L
        let column = e.BytePositionInLine |> Option.ofNullable |> Option.defaultValue 0L
        let location = sprintf "%s line %d, column %d" where (line + 1L) (column + 1L)
        fail file location (sprintf "%s is not well-formed JSON: %s" what problem)

/// Strings are decoded on access, and an escaped lone surrogate ("\ud800") cannot be decoded: it is
/// not Unicode, and it could make two distinct names collide once replaced.
let private decoded file location (what: string) (decode: unit -> string | null) : string =
    try
        decode () |> nonNull
    with :? InvalidOperationException ->
        fail file location (sprintf "%s is not valid Unicode (it escapes a lone UTF-16 surrogate)" what)

/// The members of an object in file order; a key that appears twice is refused, since readers
/// disagree on which of the two counts.
let members file location (value: JsonElement) : (string * JsonElement) list =
    let members =
        value.EnumerateObject()
        |> Seq.map (fun p -> decoded file location "a key" (fun () -> p.Name), p.Value)
        |> Seq.toList

    match members |> List.countBy fst |> List.tryFind (fun (_, count) -> count > 1) with
    | Some(key, count) ->
        fail file location (sprintf "key '%s' appears %d times (expected unique keys)" (Excerpt.text key) count)
    | None -> members

/// The value as a string, or None when it is another kind of JSON value.
let text file location (what: string) (value: JsonElement) : string option =
    if value.ValueKind = JsonValueKind.String then
        Some(decoded file location what value.GetString)
    else
        None
