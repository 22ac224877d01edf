import Foundation
import PthReader

extension ModelConfiguration {
    /// Parses `config.json` bytes; `path` names the file in errors.
    public static func decode(_ data: Data, path: String) throws -> ModelConfiguration {
        do { return try JSONDecoder().decode(ModelConfiguration.self, from: data) } catch let error as DecodingError {
            throw InferenceError.badConfiguration(path: path, reason: error.reason)
        }
    }

    /// Reads a `config.json` file.
    public static func load(path: String) throws -> ModelConfiguration {
        let data: Data
        do { data = try RegularFile.read(path, limit: 64 << 20) } catch let error as PthReaderError {
            throw error
        } catch {
            throw InferenceError.badConfiguration(path: path, reason: "cannot read file")
        }
        return try decode(data, path: path)
    }

    /// This configuration with every field `other` sets taken from `other`.
    public func overridden(by other: ModelConfiguration) -> ModelConfiguration {
        var r = self
        r.modelType = other.modelType ?? modelType
        r.hiddenSize = other.hiddenSize ?? hiddenSize
        r.numAttentionHeads = other.numAttentionHeads ?? numAttentionHeads
        r.numKeyValueHeads = other.numKeyValueHeads ?? numKeyValueHeads
        r.headDim = other.headDim ?? headDim
        r.numHiddenLayers = other.numHiddenLayers ?? numHiddenLayers
        r.intermediateSize = other.intermediateSize ?? intermediateSize
        r.vocabSize = other.vocabSize ?? vocabSize
        r.rmsNormEps = other.rmsNormEps ?? rmsNormEps
        r.ropeTheta = other.ropeTheta ?? ropeTheta
        r.numExpertsPerTok = other.numExpertsPerTok ?? numExpertsPerTok
        r.normTopkProb = other.normTopkProb ?? normTopkProb
        r.maxPositionEmbeddings = other.maxPositionEmbeddings ?? maxPositionEmbeddings
        r.tieWordEmbeddings = other.tieWordEmbeddings ?? tieWordEmbeddings
        r.useMoe = other.useMoe ?? useMoe
        r.numExperts = other.numExperts ?? numExperts
        r.moeIntermediateSize = other.moeIntermediateSize ?? moeIntermediateSize
        r.mlpOnlyLayers = other.mlpOnlyLayers ?? mlpOnlyLayers
        r.decoderSparseStep = other.decoderSparseStep ?? decoderSparseStep
        r.inferenceRopeScaling = other.inferenceRopeScaling ?? inferenceRopeScaling
        r.ropeParameters = other.ropeParameters ?? ropeParameters
        return r
    }

    /// The fields `other` sets to a value different from this configuration's, as
    /// `(config.json key, this value, other's value)`: a flag that contradicts the file.
    public func contradictions(by other: ModelConfiguration) -> [(key: String, file: String, given: String)] {
        var found: [(String, String, String)] = []
        func check<T: Equatable>(_ key: CodingKeys, _ mine: T?, _ theirs: T?) {
            if let mine, let theirs, mine != theirs { found.append((key.rawValue, "\(mine)", "\(theirs)")) }
        }
        check(.hiddenSize, hiddenSize, other.hiddenSize)
        check(.numAttentionHeads, numAttentionHeads, other.numAttentionHeads)
        check(.numKeyValueHeads, numKeyValueHeads, other.numKeyValueHeads)
        check(.headDim, headDim, other.headDim)
        check(.numHiddenLayers, numHiddenLayers, other.numHiddenLayers)
        check(.vocabSize, vocabSize, other.vocabSize)
        check(.rmsNormEps, rmsNormEps, other.rmsNormEps)
        check(.ropeTheta, ropeTheta, other.ropeTheta)
        check(.numExpertsPerTok, numExpertsPerTok, other.numExpertsPerTok)
        check(.normTopkProb, normTopkProb, other.normTopkProb)
        return found
    }

    /// The `config.json` that belongs to a checkpoint: the one inside a Hugging Face directory, else
    /// `config.json` in the same directory as the weights file; `nil` when there is none.
    public static func discovered(for checkpoint: Checkpoint) throws -> ModelConfiguration? {
        if let gguf = checkpoint.gguf { return try GGUFImport.configuration(gguf) }
        if let data = checkpoint.configJSON {
            return try decode(data, path: URL(fileURLWithPath: checkpoint.path).appendingPathComponent("config.json").path)
        }
        guard let candidate = CompanionFile.beside(checkpoint.path, named: "config.json") else { return nil }
        return try load(path: candidate.path)
    }
}
