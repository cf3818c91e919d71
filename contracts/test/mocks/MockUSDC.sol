// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MockSignatureChecker} from "./MockSignatureChecker.sol";

/// @title MockUSDC
/// @notice The token logic of a test stand-in for Circle's FiatToken v2.2 (USDC), written from its documented
///         behaviour, faithful in everything Clearing relies on:
///         - deployed as v2.2 is: this implementation behind an upgradeability proxy (`MockUSDCProxy`, the address
///           clients see), with signatures checked by a separately deployed `MockSignatureChecker` reached by
///           DELEGATECALL (v2.2's external `SignatureChecker` library), so gas measured on it tracks the real token;
///         - initialization blacklists the token's own address (v2.2's `initializeV2_1`/`initializeV2_2`), so
///           nothing can be paid to the token itself;
///         - EIP-712 domain `{name, version: "2", chainId, verifyingContract}` with the name read from storage on
///           every use and a configurable name ("USDC" on Base Sepolia, "USD Coin" on Base), 6 decimals;
///         - EIP-3009 transfer-, receive- and cancelAuthorization, each with the (v,r,s) and the `bytes signature`
///           overloads (the (v,r,s) ones pack r || s || v and take the same path), sharing one nonce map;
///         - strict validity windows (`validAfter < now < validBefore`), checked before the nonce, the nonce before
///           the signature; `receiveWithAuthorization` only from the payee;
///         - ECDSA with low-s, v in {27,28} and 65-byte signatures for signers without code, ERC-1271 only for
///           signers with code;
///         - `AuthorizationUsed` emitted before `Transfer`;
///         - pause on every transfer path and on approve; blacklist on `from` and `to` (and the caller of
///           `transfer`/`transferFrom`), not on approve or cancel (v2.2 dropped those checks);
///         - balance and blacklist flag in one slot (the flag is the high bit), and every balance write re-checks
///           the flag and the 2^255 - 1 bound, as v2.2's `_setBalance` does;
///         - revert strings exactly as FiatToken's, so callers can match them.
///         Unlike USDC it has one owner for pause and blacklist, and an open `mint` for tests and dev chains.
/// @dev Storage (the proxy's, this contract's own layout): slot 0 owner, paused, initialized; slot 1 name; slot 2
///      totalSupply; then the balance, allowance and authorization maps. The transfer path touches what v2.2's
///      touches: the pause slot, the name slot, both balance slots, the nonce slot.
contract MockUSDC {
    /// @notice keccak256("TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)")
    bytes32 public constant TRANSFER_WITH_AUTHORIZATION_TYPEHASH =
        0x7c7c6cdb67a18743f49ec6fa9b35f50d52ed05cbed4cc592e13b44501c1a2267;
    /// @notice keccak256("ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)")
    bytes32 public constant RECEIVE_WITH_AUTHORIZATION_TYPEHASH =
        0xd099cc98ef71107a616c4f0f941f04c322d8e254fe26b3c6668db87aae413de8;
    /// @notice keccak256("CancelAuthorization(address authorizer,bytes32 nonce)")
    bytes32 public constant CANCEL_AUTHORIZATION_TYPEHASH =
        0x158b0a9edf7a828aad02f63cd515c68ef2f50ba807396f6d12842833a1597429;

    bytes32 private constant _EIP712_DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    /// @dev The high bit of a balance slot marks the account as blacklisted (FiatToken v2.2 layout).
    uint256 private constant _BLACKLIST_FLAG = 1 << 255;
    /// @dev The largest balance the low 255 bits hold.
    uint256 private constant _MAX_BALANCE = _BLACKLIST_FLAG - 1;

    string public constant symbol = "USDC";
    uint8 public constant decimals = 6;
    string public constant version = "2";

    /// @notice The `MockSignatureChecker` every signature check DELEGATECALLs (v2.2's linked library address).
    address public immutable signatureChecker;

    /// @notice May pause and blacklist (FiatToken splits this between a pauser and a blacklister).
    address public owner;
    /// @notice Whether every transfer path and approve are refused.
    bool public paused;
    bool private _initialized;
    /// @notice The EIP-712 domain name, read from storage on every signature check as v2.2 does.
    string public name;
    /// @notice Sum of all balances, in atomic units.
    uint256 public totalSupply;

    mapping(address account => uint256 balanceAndBlacklistState) private _balanceAndBlacklistStates;
    mapping(address owner => mapping(address spender => uint256)) public allowance;
    mapping(address authorizer => mapping(bytes32 nonce => bool)) private _authorizationStates;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce);
    event AuthorizationCanceled(address indexed authorizer, bytes32 indexed nonce);
    event Pause();
    event Unpause();
    event Blacklisted(address indexed account);
    event UnBlacklisted(address indexed account);

    modifier onlyOwner() {
        require(msg.sender == owner, "Ownable: caller is not the owner");
        _;
    }

    modifier whenNotPaused() {
        require(!paused, "Pausable: paused");
        _;
    }

    modifier notBlacklisted(address account) {
        require(!isBlacklisted(account), "Blacklistable: account is blacklisted");
        _;
    }

    /// @param signatureChecker_ The deployed `MockSignatureChecker`.
    /// @dev The implementation's own storage is marked initialized, so only a proxy's storage can hold a token.
    constructor(address signatureChecker_) {
        signatureChecker = signatureChecker_;
        _initialized = true;
    }

    /// @notice Sets up the token in the proxy's storage, once: the domain name, the owner, and the token's own
    ///         address on the blacklist (as v2.2's `initializeV2_1` and `initializeV2_2` leave it).
    /// @dev Emits `Blacklisted(address(this))`. Reverts if already initialized.
    /// @param name_ The EIP-712 domain name: "USDC" (Base Sepolia) or "USD Coin" (Base).
    /// @param owner_ Who may pause and blacklist.
    function initialize(string calldata name_, address owner_) external {
        require(!_initialized, "MockUSDC: already initialized");
        _initialized = true;
        name = name_;
        owner = owner_;
        _blacklist(address(this));
    }

    // ------------------------------------------------------------------ ERC-20

    /// @notice Balance of `account` in atomic units (6 decimals).
    function balanceOf(address account) public view returns (uint256) {
        return _balanceAndBlacklistStates[account] & _MAX_BALANCE;
    }

    /// @notice ERC-20 transfer.
    function transfer(address to, uint256 value)
        external
        whenNotPaused
        notBlacklisted(msg.sender)
        notBlacklisted(to)
        returns (bool)
    {
        _transfer(msg.sender, to, value);
        return true;
    }

    /// @notice ERC-20 transferFrom.
    function transferFrom(address from, address to, uint256 value)
        external
        whenNotPaused
        notBlacklisted(msg.sender)
        notBlacklisted(from)
        notBlacklisted(to)
        returns (bool)
    {
        require(value <= allowance[from][msg.sender], "ERC20: transfer amount exceeds allowance");
        allowance[from][msg.sender] -= value;
        _transfer(from, to, value);
        return true;
    }

    /// @notice ERC-20 approve. Not blacklist-checked (v2.2).
    function approve(address spender, uint256 value) external whenNotPaused returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    // ------------------------------------------------------------------ EIP-3009

    /// @notice Executes a transfer with a signed authorization (v, r, s form).
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external whenNotPaused notBlacklisted(from) notBlacklisted(to) {
        _transferWithAuthorization(
            TRANSFER_WITH_AUTHORIZATION_TYPEHASH,
            from,
            to,
            value,
            validAfter,
            validBefore,
            nonce,
            abi.encodePacked(r, s, v)
        );
    }

    /// @notice Executes a transfer with a signed authorization (EOA or ERC-1271 signature).
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes memory signature
    ) external whenNotPaused notBlacklisted(from) notBlacklisted(to) {
        _transferWithAuthorization(
            TRANSFER_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce, signature
        );
    }

    /// @notice Receives a transfer with a signed authorization; the caller must be the payee (v, r, s form).
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external whenNotPaused notBlacklisted(from) notBlacklisted(to) {
        require(to == msg.sender, "FiatTokenV2: caller must be the payee");
        _transferWithAuthorization(
            RECEIVE_WITH_AUTHORIZATION_TYPEHASH,
            from,
            to,
            value,
            validAfter,
            validBefore,
            nonce,
            abi.encodePacked(r, s, v)
        );
    }

    /// @notice Receives a transfer with a signed authorization; the caller must be the payee.
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes memory signature
    ) external whenNotPaused notBlacklisted(from) notBlacklisted(to) {
        require(to == msg.sender, "FiatTokenV2: caller must be the payee");
        _transferWithAuthorization(
            RECEIVE_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce, signature
        );
    }

    /// @notice Cancels an unused authorization (v, r, s form).
    function cancelAuthorization(address authorizer, bytes32 nonce, uint8 v, bytes32 r, bytes32 s)
        external
        whenNotPaused
    {
        _cancelAuthorization(authorizer, nonce, abi.encodePacked(r, s, v));
    }

    /// @notice Cancels an unused authorization.
    function cancelAuthorization(address authorizer, bytes32 nonce, bytes memory signature) external whenNotPaused {
        _cancelAuthorization(authorizer, nonce, signature);
    }

    /// @notice Whether `nonce` of `authorizer` has been used or cancelled.
    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool) {
        return _authorizationStates[authorizer][nonce];
    }

    /// @notice The EIP-712 domain separator, computed for the current chain id as v2.2 does.
    function DOMAIN_SEPARATOR() public view returns (bytes32) {
        return keccak256(
            abi.encode(
                _EIP712_DOMAIN_TYPEHASH, keccak256(bytes(name)), keccak256(bytes(version)), block.chainid, address(this)
            )
        );
    }

    // ------------------------------------------------------------------ admin and test hooks

    /// @notice Mints `value` to `to`. Open to anyone: this token exists for tests and dev chains only.
    function mint(address to, uint256 value) external whenNotPaused notBlacklisted(to) {
        require(to != address(0), "FiatToken: mint to the zero address");
        totalSupply += value;
        _setBalance(to, balanceOf(to) + value);
        emit Transfer(address(0), to, value);
    }

    /// @notice Pauses every transfer path.
    function pause() external onlyOwner {
        paused = true;
        emit Pause();
    }

    /// @notice Lifts the pause.
    function unpause() external onlyOwner {
        paused = false;
        emit Unpause();
    }

    /// @notice Blocks `account` as sender, receiver and caller.
    function blacklist(address account) external onlyOwner {
        _blacklist(account);
    }

    /// @notice Lifts the blacklist of `account`.
    function unBlacklist(address account) external onlyOwner {
        _balanceAndBlacklistStates[account] &= _MAX_BALANCE;
        emit UnBlacklisted(account);
    }

    /// @notice Whether `account` is blacklisted.
    function isBlacklisted(address account) public view returns (bool) {
        return _balanceAndBlacklistStates[account] & _BLACKLIST_FLAG != 0;
    }

    // ------------------------------------------------------------------ internal

    function _transferWithAuthorization(
        bytes32 typeHash,
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes memory signature
    ) internal {
        require(block.timestamp > validAfter, "FiatTokenV2: authorization is not yet valid");
        require(block.timestamp < validBefore, "FiatTokenV2: authorization is expired");
        _requireUnusedAuthorization(from, nonce);
        _requireValidSignature(
            from, keccak256(abi.encode(typeHash, from, to, value, validAfter, validBefore, nonce)), signature
        );
        _authorizationStates[from][nonce] = true;
        emit AuthorizationUsed(from, nonce);
        _transfer(from, to, value);
    }

    function _cancelAuthorization(address authorizer, bytes32 nonce, bytes memory signature) internal {
        _requireUnusedAuthorization(authorizer, nonce);
        _requireValidSignature(
            authorizer, keccak256(abi.encode(CANCEL_AUTHORIZATION_TYPEHASH, authorizer, nonce)), signature
        );
        _authorizationStates[authorizer][nonce] = true;
        emit AuthorizationCanceled(authorizer, nonce);
    }

    function _requireUnusedAuthorization(address authorizer, bytes32 nonce) internal view {
        require(!_authorizationStates[authorizer][nonce], "FiatTokenV2: authorization is used or canceled");
    }

    /// @dev FiatToken v1's `_transfer` over v2.2's balance helpers: each balance is read where it is used and each
    ///      write goes through `_setBalance`, so the slot reads match the real token's.
    function _transfer(address from, address to, uint256 value) internal {
        require(from != address(0), "ERC20: transfer from the zero address");
        require(to != address(0), "ERC20: transfer to the zero address");
        require(value <= balanceOf(from), "ERC20: transfer amount exceeds balance");
        _setBalance(from, balanceOf(from) - value);
        _setBalance(to, balanceOf(to) + value);
        emit Transfer(from, to, value);
    }

    /// @dev v2.2's `_setBalance`: the balance must fit below the flag bit and the account must not be blacklisted.
    function _setBalance(address account, uint256 balance) internal {
        require(balance <= _MAX_BALANCE, "FiatTokenV2_2: Balance exceeds (2^255 - 1)");
        require(!isBlacklisted(account), "FiatTokenV2_2: Account is blacklisted");
        _balanceAndBlacklistStates[account] = balance;
    }

    function _blacklist(address account) internal {
        _balanceAndBlacklistStates[account] |= _BLACKLIST_FLAG;
        emit Blacklisted(account);
    }

    /// @dev Checks `signature` through the checker as v2.2 calls `SignatureChecker.isValidSignatureNow`, and as solc
    ///      compiles a call to an external library function: the arguments ABI-encoded at the free memory pointer, a
    ///      code-size check of the library (solc before 0.8.10 always made it), a DELEGATECALL with all gas, a revert
    ///      inside (an `ECRecover:` reason) passed up unchanged, one word of return data read.
    function _requireValidSignature(address signer, bytes32 structHash, bytes memory signature) internal {
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", DOMAIN_SEPARATOR(), structHash));
        address checker = signatureChecker;
        bytes4 selector = MockSignatureChecker.isValidSignatureNow.selector;
        bool valid;
        assembly ("memory-safe") {
            if iszero(extcodesize(checker)) { revert(0, 0) }
            let m := mload(0x40)
            let len := mload(signature)
            mstore(m, selector)
            mstore(add(m, 0x04), signer)
            mstore(add(m, 0x24), digest)
            mstore(add(m, 0x44), 0x60)
            mstore(add(m, 0x64), len)
            // The signature's words, then a zero word so the padding after it is clean.
            let words := and(add(len, 31), not(31))
            mstore(add(add(m, 0x84), words), 0)
            mcopy(add(m, 0x84), add(signature, 0x20), len)
            if iszero(delegatecall(gas(), checker, m, add(0x84, words), 0, 0x20)) {
                returndatacopy(m, 0, returndatasize())
                revert(m, returndatasize())
            }
            if lt(returndatasize(), 0x20) { revert(0, 0) }
            valid := mload(0)
        }
        require(valid, "FiatTokenV2: invalid signature");
    }
}
