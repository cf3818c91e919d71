// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC1271} from "../../src/interfaces/IERC1271.sol";

/// @title MockUSDC
/// @notice A test stand-in for Circle's FiatToken v2.2 (USDC), faithful in everything Clearing relies on:
///         - EIP-712 domain `{name, version: "2", chainId, verifyingContract}` with a configurable name
///           ("USDC" on Base Sepolia, "USD Coin" on Base), 6 decimals;
///         - EIP-3009 transfer-, receive- and cancelAuthorization, each with the (v,r,s) and the `bytes signature`
///           overloads, sharing one nonce map;
///         - strict validity windows (`validAfter < now < validBefore`);
///         - `receiveWithAuthorization` only from the payee;
///         - ECDSA with low-s, v in {27,28} and 65-byte signatures for signers without code, ERC-1271 only for
///           signers with code;
///         - `AuthorizationUsed` emitted before `Transfer`;
///         - pause on every transfer path, blacklist on `from` and `to`;
///         - revert strings exactly as FiatToken's, so callers can match them.
///         Unlike USDC it has one owner for pause and blacklist, and an open `mint` for tests and dev chains.
/// @dev Balances and blacklist flags share one slot as in v2.2, so gas figures measured against this token track
///      real USDC (less the proxy's delegatecall).
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
    /// @dev secp256k1n / 2: signatures with a larger s are malleable and refused (EIP-2).
    uint256 private constant _MAX_LOW_S = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;
    /// @dev The high bit of a balance slot marks the account as blacklisted (FiatToken v2.2 layout).
    uint256 private constant _BLACKLIST_FLAG = 1 << 255;

    string public name;
    string public constant symbol = "USDC";
    uint8 public constant decimals = 6;
    string public constant version = "2";

    address public owner;
    bool public paused;
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

    /// @param name_ The EIP-712 domain name: "USDC" (Base Sepolia) or "USD Coin" (Base).
    constructor(string memory name_) {
        name = name_;
        owner = msg.sender;
    }

    // ------------------------------------------------------------------ ERC-20

    /// @notice Balance of `account` in atomic units (6 decimals).
    function balanceOf(address account) public view returns (uint256) {
        return _balanceAndBlacklistStates[account] & ~_BLACKLIST_FLAG;
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

    /// @notice ERC-20 approve.
    function approve(address spender, uint256 value)
        external
        whenNotPaused
        notBlacklisted(msg.sender)
        notBlacklisted(spender)
        returns (bool)
    {
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
        _balanceAndBlacklistStates[to] += value;
        require(_balanceAndBlacklistStates[to] & _BLACKLIST_FLAG == 0, "MockUSDC: balance overflow");
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

    /// @notice Blocks `account` as sender, receiver, caller and spender.
    function blacklist(address account) external onlyOwner {
        _balanceAndBlacklistStates[account] |= _BLACKLIST_FLAG;
        emit Blacklisted(account);
    }

    /// @notice Lifts the blacklist of `account`.
    function unBlacklist(address account) external onlyOwner {
        _balanceAndBlacklistStates[account] &= ~_BLACKLIST_FLAG;
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
        bytes32 structHash = keccak256(abi.encode(typeHash, from, to, value, validAfter, validBefore, nonce));
        require(_isValidSignatureNow(from, _hashTypedData(structHash), signature), "FiatTokenV2: invalid signature");
        _authorizationStates[from][nonce] = true;
        emit AuthorizationUsed(from, nonce);
        _transfer(from, to, value);
    }

    function _cancelAuthorization(address authorizer, bytes32 nonce, bytes memory signature) internal {
        _requireUnusedAuthorization(authorizer, nonce);
        bytes32 structHash = keccak256(abi.encode(CANCEL_AUTHORIZATION_TYPEHASH, authorizer, nonce));
        require(
            _isValidSignatureNow(authorizer, _hashTypedData(structHash), signature), "FiatTokenV2: invalid signature"
        );
        _authorizationStates[authorizer][nonce] = true;
        emit AuthorizationCanceled(authorizer, nonce);
    }

    function _requireUnusedAuthorization(address authorizer, bytes32 nonce) internal view {
        require(!_authorizationStates[authorizer][nonce], "FiatTokenV2: authorization is used or canceled");
    }

    function _transfer(address from, address to, uint256 value) internal {
        require(from != address(0), "ERC20: transfer from the zero address");
        require(to != address(0), "ERC20: transfer to the zero address");
        require(value <= balanceOf(from), "ERC20: transfer amount exceeds balance");
        _balanceAndBlacklistStates[from] -= value;
        _balanceAndBlacklistStates[to] += value;
        emit Transfer(from, to, value);
    }

    function _hashTypedData(bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", DOMAIN_SEPARATOR(), structHash));
    }

    /// @dev FiatToken v2.2 SignatureChecker: signers with code are asked through ERC-1271 only (this covers EIP-7702
    ///      delegated EOAs too); others must produce a strict 65-byte ECDSA signature.
    function _isValidSignatureNow(address signer, bytes32 digest, bytes memory signature) internal view returns (bool) {
        if (signer.code.length > 0) {
            (bool ok, bytes memory result) =
                signer.staticcall(abi.encodeWithSelector(IERC1271.isValidSignature.selector, digest, signature));
            return
                ok && result.length >= 32
                    && abi.decode(result, (bytes32)) == bytes32(IERC1271.isValidSignature.selector);
        }
        return _recover(digest, signature) == signer;
    }

    /// @dev FiatToken's ECRecover.recover, with its revert strings.
    function _recover(bytes32 digest, bytes memory signature) internal pure returns (address signer) {
        require(signature.length == 65, "ECRecover: invalid signature length");
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := mload(add(signature, 0x20))
            s := mload(add(signature, 0x40))
            v := byte(0, mload(add(signature, 0x60)))
        }
        require(uint256(s) <= _MAX_LOW_S, "ECRecover: invalid signature 's' value");
        require(v == 27 || v == 28, "ECRecover: invalid signature 'v' value");
        signer = ecrecover(digest, v, r, s);
        require(signer != address(0), "ECRecover: invalid signature");
    }
}
