/// Failures found by the command line itself rather than by a library.
enum CLIError: Error, Equatable {
    /// The output exists and `--force` was not given.
    case outputExists(path: String)
    /// `-o` names a directory where a file name is needed.
    case outputIsDirectory(path: String)
    /// The output's parent directory could not be created.
    case cannotCreateDirectory(path: String, reason: String)
    /// An input file (given through a flag) is unusable; `flag` is the flag that named it, if any.
    case badInput(file: String?, flag: String?, reason: String)
    /// A model was expected but `path` holds a LoRA adapter.
    case adapterGivenAsModel(path: String, format: String)
    /// Writing an output file failed.
    case outputFailed(path: String, reason: String)
}
