/// SHA-256 of text, as lowercase hex: the one hash behind trial keys and definition hashes.
module Hybrid.Hashing

open System
open System.Security.Cryptography
open System.Text

let sha256 (text: string) = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes text))
