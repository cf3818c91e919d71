// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title console
/// @notice The few `console.log` shapes the benchmarks print with, sent to Foundry's console address.
library console {
    address private constant CONSOLE = 0x000000000000000000636F6e736F6c652e6c6f67;

    function _send(bytes memory payload) private view {
        (bool ok,) = CONSOLE.staticcall(payload);
        ok;
    }

    function log(string memory message) internal view {
        _send(abi.encodeWithSignature("log(string)", message));
    }

    function log(string memory message, uint256 value) internal view {
        _send(abi.encodeWithSignature("log(string,uint256)", message, value));
    }

    function log(string memory message, uint256 value1, uint256 value2) internal view {
        _send(abi.encodeWithSignature("log(string,uint256,uint256)", message, value1, value2));
    }
}
