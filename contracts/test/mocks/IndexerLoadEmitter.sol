// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IndexerLoadEmitter
/// @notice Test and benchmark only: emits the BatchSettler and Escrow events the indexer projects, with their exact
///         signatures, in bulk and without moving any token, so a local chain can hold hundreds of thousands of
///         indexable events cheaply (about 3,000 gas per `PaymentSettled`). Deploy one instance in the settler's
///         place and one in the escrow's: the indexer tells the two apart by address, and reads the escrow's
///         `feeRecipient` once at start.
contract IndexerLoadEmitter {
    /// @notice Escrow's job terms, field for field (the `JobFunded` signature depends on them).
    struct JobTerms {
        address payer;
        address provider;
        address token;
        uint256 amount;
        uint256 fee;
        address arbiter;
        uint64 fundingDeadline;
        uint64 completionDeadline;
        uint64 reviewWindow;
        bytes32 salt;
    }

    /// @notice The fee recipient the indexer credits job fees to, as Escrow's immutable of the same name.
    address public immutable feeRecipient;

    /// @notice BatchSettler's per-item event.
    event PaymentSettled(address indexed payer, bytes32 indexed nonce, address token, address to, uint256 value);
    /// @notice BatchSettler's batch-closing event.
    event BatchSettled(address indexed token, uint256 payments, uint256 settled);
    /// @notice Escrow's first event of a job, with its full terms.
    event JobFunded(bytes32 indexed jobId, address indexed payer, address indexed provider, JobTerms terms);
    /// @notice Escrow's completion event.
    event JobCompleted(bytes32 indexed jobId, uint256 completedAt, uint256 reviewEndsAt);
    /// @notice Escrow's release event: the provider and the fee recipient are credited.
    event JobReleased(bytes32 indexed jobId, uint256 providerAmount, uint256 feeAmount);
    /// @notice Escrow's pull-payment event.
    event Claimed(address indexed token, address indexed account, address to, uint256 amount);

    constructor(address feeRecipient_) {
        feeRecipient = feeRecipient_;
    }

    /// @notice Emits `count` `PaymentSettled` events and one closing `BatchSettled`, as one BatchSettler batch.
    /// @dev Payers cycle through 64 addresses derived from `seed`; nonces are `keccak256(seed, i)`, so distinct seeds
    ///      give distinct payments. Emits only; moves nothing.
    /// @param token The token named in the events.
    /// @param to The payee named in the events.
    /// @param count Payments in the batch.
    /// @param seed Makes this batch's payers and nonces distinct.
    function settle(address token, address to, uint256 count, bytes32 seed) external {
        for (uint256 i; i < count; ++i) {
            address payer = address(uint160(uint256(keccak256(abi.encode(seed, i % 64)))));
            emit PaymentSettled(payer, keccak256(abi.encode(seed, i)), token, to, 1000 + i);
        }
        emit BatchSettled(token, count, count);
    }

    /// @notice Emits the whole life of `count` escrow jobs: `JobFunded`, `JobCompleted`, `JobReleased`, and the
    ///         provider's `Claimed` of what the jobs credited it.
    /// @dev Job ids are `keccak256(terms)` with `salt = keccak256(seed, i)`. Emits only; moves nothing.
    /// @param token The jobs' token.
    /// @param payer The jobs' payer.
    /// @param provider The jobs' provider.
    /// @param count Jobs.
    /// @param seed Makes this call's jobs distinct.
    function jobs(address token, address payer, address provider, uint256 count, bytes32 seed) external {
        uint256 amount = 100_000;
        uint256 fee = 5000;
        for (uint256 i; i < count; ++i) {
            JobTerms memory terms = JobTerms({
                payer: payer,
                provider: provider,
                token: token,
                amount: amount,
                fee: fee,
                arbiter: msg.sender,
                fundingDeadline: uint64(block.timestamp + 3600),
                completionDeadline: uint64(block.timestamp + 7200),
                reviewWindow: 600,
                salt: keccak256(abi.encode(seed, i))
            });
            bytes32 jobId = keccak256(abi.encode(terms));
            emit JobFunded(jobId, payer, provider, terms);
            emit JobCompleted(jobId, block.timestamp, block.timestamp + 600);
            emit JobReleased(jobId, amount - fee, fee);
        }
        emit Claimed(token, provider, provider, count * (amount - fee));
    }
}
