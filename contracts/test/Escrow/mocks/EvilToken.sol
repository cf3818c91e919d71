// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title EvilToken
/// @notice An EIP-3009-shaped token that misbehaves on demand, for the Escrow's defensive paths. It checks no
///         signature: `receiveWithAuthorization` only requires the payee to call it, like FiatToken;
///         `transferWithAuthorization` anyone may call. Both mark the nonce used. The bomb and reentry modes apply to
///         every path that moves money (the two authorizations and `transfer`).
contract EvilToken {
    enum Mode {
        Honest,
        Shortchange, // the payee receives one unit less than `value`
        Overpay, // the payee receives one unit more than `value`
        Reenter, // calls `target` with `data` before moving funds, bubbling a failure
        RevertBomb, // reverts with 10,000 bytes of data
        GasBomb, // burns all gas it is given
        ReenterOnTransfer, // `transfer` calls `target` with `data` first, bubbling a failure
        TransferReturnsFalse // `transfer` moves nothing and returns false
    }

    Mode public mode;
    address public target;
    bytes public data;
    mapping(address account => uint256) public balanceOf;
    mapping(address authorizer => mapping(bytes32 nonce => bool used)) public authorizationState;

    function setMode(Mode mode_) external {
        mode = mode_;
    }

    function setReentry(address target_, bytes calldata data_) external {
        target = target_;
        data = data_;
    }

    function mint(address to, uint256 value) external {
        balanceOf[to] += value;
    }

    /// @dev Takes `value` from `account` without its consent, as no honest token does.
    function seize(address account, uint256 value) external {
        balanceOf[account] -= value;
    }

    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256,
        uint256,
        bytes32 nonce,
        bytes calldata
    ) external {
        require(to == msg.sender, "EvilToken: caller must be the payee");
        _authorizedMove(from, to, value, nonce);
    }

    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256,
        uint256,
        bytes32 nonce,
        bytes calldata
    ) external {
        _authorizedMove(from, to, value, nonce);
    }

    function transfer(address to, uint256 value) external returns (bool) {
        if (mode == Mode.ReenterOnTransfer) _reenter();
        if (mode == Mode.TransferReturnsFalse) return false;
        _bombs();
        balanceOf[msg.sender] -= value;
        balanceOf[to] += value;
        return true;
    }

    function _authorizedMove(address from, address to, uint256 value, bytes32 nonce) internal {
        require(!authorizationState[from][nonce], "EvilToken: authorization is used");
        authorizationState[from][nonce] = true;
        if (mode == Mode.Reenter) _reenter();
        _bombs();
        balanceOf[from] -= value;
        if (mode == Mode.Shortchange) value -= 1;
        if (mode == Mode.Overpay) value += 1;
        balanceOf[to] += value;
    }

    function _bombs() internal view {
        if (mode == Mode.RevertBomb) {
            assembly {
                revert(0, 10000)
            }
        }
        if (mode == Mode.GasBomb) {
            uint256 i;
            while (true) {
                ++i;
            }
        }
    }

    function _reenter() internal {
        (bool ok, bytes memory ret) = target.call(data);
        if (!ok) {
            assembly {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }
}
