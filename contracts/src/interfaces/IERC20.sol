// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IERC20
/// @notice The slice of ERC-20 that Clearing's contracts call.
interface IERC20 {
    function balanceOf(address account) external view returns (uint256);
    function transfer(address to, uint256 value) external returns (bool);
}
