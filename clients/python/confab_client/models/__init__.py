"""Contains all the data models used in inputs/outputs"""

from .ack_frame import AckFrame
from .changes import Changes
from .client_frame_join_frame import ClientFrameJoinFrame
from .client_frame_join_frame_type import ClientFrameJoinFrameType
from .client_frame_leave_frame import ClientFrameLeaveFrame
from .client_frame_leave_frame_type import ClientFrameLeaveFrameType
from .client_frame_ping_frame import ClientFramePingFrame
from .client_frame_ping_frame_type import ClientFramePingFrameType
from .client_frame_react_frame import ClientFrameReactFrame
from .client_frame_react_frame_type import ClientFrameReactFrameType
from .client_frame_read_frame import ClientFrameReadFrame
from .client_frame_read_frame_type import ClientFrameReadFrameType
from .client_frame_reauth_frame import ClientFrameReauthFrame
from .client_frame_reauth_frame_type import ClientFrameReauthFrameType
from .client_frame_send_frame import ClientFrameSendFrame
from .client_frame_send_frame_type import ClientFrameSendFrameType
from .client_frame_typing_client_frame import ClientFrameTypingClientFrame
from .client_frame_typing_client_frame_type import ClientFrameTypingClientFrameType
from .conversation import Conversation
from .conversation_kind import ConversationKind
from .conversation_page import ConversationPage
from .edit_message import EditMessage
from .error_body import ErrorBody
from .error_detail import ErrorDetail
from .error_details import ErrorDetails
from .error_details_fields import ErrorDetailsFields
from .error_frame import ErrorFrame
from .group import Group
from .group_create import GroupCreate
from .group_page import GroupPage
from .group_patch import GroupPatch
from .group_role import GroupRole
from .history import History
from .join_frame import JoinFrame
from .joined_frame import JoinedFrame
from .last_message_view import LastMessageView
from .leave_frame import LeaveFrame
from .login_request import LoginRequest
from .member import Member
from .member_page import MemberPage
from .member_role import MemberRole
from .member_user import MemberUser
from .membership_frame import MembershipFrame
from .membership_status import MembershipStatus
from .message import Message
from .message_deleted_frame import MessageDeletedFrame
from .message_frame import MessageFrame
from .message_updated_frame import MessageUpdatedFrame
from .open_dm import OpenDm
from .ownership_transfer import OwnershipTransfer
from .password_change import PasswordChange
from .presence import Presence
from .presence_frame import PresenceFrame
from .presence_status import PresenceStatus
from .profile_patch import ProfilePatch
from .react_frame import ReactFrame
from .reaction_count import ReactionCount
from .reaction_frame import ReactionFrame
from .reactor_page import ReactorPage
from .read_event_frame import ReadEventFrame
from .read_frame import ReadFrame
from .read_marker import ReadMarker
from .reauth_frame import ReauthFrame
from .refresh_request import RefreshRequest
from .register_request import RegisterRequest
from .reply_to import ReplyTo
from .role import Role
from .role_change import RoleChange
from .search_hit import SearchHit
from .search_page import SearchPage
from .send_frame import SendFrame
from .send_message import SendMessage
from .server_frame_ack_frame import ServerFrameAckFrame
from .server_frame_ack_frame_type import ServerFrameAckFrameType
from .server_frame_error_frame import ServerFrameErrorFrame
from .server_frame_error_frame_type import ServerFrameErrorFrameType
from .server_frame_joined_frame import ServerFrameJoinedFrame
from .server_frame_joined_frame_type import ServerFrameJoinedFrameType
from .server_frame_membership_frame import ServerFrameMembershipFrame
from .server_frame_membership_frame_type import ServerFrameMembershipFrameType
from .server_frame_message_deleted_frame import ServerFrameMessageDeletedFrame
from .server_frame_message_deleted_frame_type import ServerFrameMessageDeletedFrameType
from .server_frame_message_frame import ServerFrameMessageFrame
from .server_frame_message_frame_type import ServerFrameMessageFrameType
from .server_frame_message_updated_frame import ServerFrameMessageUpdatedFrame
from .server_frame_message_updated_frame_type import ServerFrameMessageUpdatedFrameType
from .server_frame_pong_frame import ServerFramePongFrame
from .server_frame_pong_frame_type import ServerFramePongFrameType
from .server_frame_presence_frame import ServerFramePresenceFrame
from .server_frame_presence_frame_type import ServerFramePresenceFrameType
from .server_frame_reaction_frame import ServerFrameReactionFrame
from .server_frame_reaction_frame_type import ServerFrameReactionFrameType
from .server_frame_read_event_frame import ServerFrameReadEventFrame
from .server_frame_read_event_frame_type import ServerFrameReadEventFrameType
from .server_frame_typing_frame import ServerFrameTypingFrame
from .server_frame_typing_frame_type import ServerFrameTypingFrameType
from .status import Status
from .token_pair import TokenPair
from .typing_client_frame import TypingClientFrame
from .typing_frame import TypingFrame
from .user import User
from .user_page import UserPage
from .user_ref import UserRef
from .user_summary import UserSummary
from .visibility import Visibility
from .web_marker import WebMarker
from .web_session import WebSession
from .ws_ticket import WsTicket

__all__ = (
    "AckFrame",
    "Changes",
    "ClientFrameJoinFrame",
    "ClientFrameJoinFrameType",
    "ClientFrameLeaveFrame",
    "ClientFrameLeaveFrameType",
    "ClientFramePingFrame",
    "ClientFramePingFrameType",
    "ClientFrameReactFrame",
    "ClientFrameReactFrameType",
    "ClientFrameReadFrame",
    "ClientFrameReadFrameType",
    "ClientFrameReauthFrame",
    "ClientFrameReauthFrameType",
    "ClientFrameSendFrame",
    "ClientFrameSendFrameType",
    "ClientFrameTypingClientFrame",
    "ClientFrameTypingClientFrameType",
    "Conversation",
    "ConversationKind",
    "ConversationPage",
    "EditMessage",
    "ErrorBody",
    "ErrorDetail",
    "ErrorDetails",
    "ErrorDetailsFields",
    "ErrorFrame",
    "Group",
    "GroupCreate",
    "GroupPage",
    "GroupPatch",
    "GroupRole",
    "History",
    "JoinFrame",
    "JoinedFrame",
    "LastMessageView",
    "LeaveFrame",
    "LoginRequest",
    "Member",
    "MemberPage",
    "MemberRole",
    "MemberUser",
    "MembershipFrame",
    "MembershipStatus",
    "Message",
    "MessageDeletedFrame",
    "MessageFrame",
    "MessageUpdatedFrame",
    "OpenDm",
    "OwnershipTransfer",
    "PasswordChange",
    "Presence",
    "PresenceFrame",
    "PresenceStatus",
    "ProfilePatch",
    "ReactFrame",
    "ReactionCount",
    "ReactionFrame",
    "ReactorPage",
    "ReadEventFrame",
    "ReadFrame",
    "ReadMarker",
    "ReauthFrame",
    "RefreshRequest",
    "RegisterRequest",
    "ReplyTo",
    "Role",
    "RoleChange",
    "SearchHit",
    "SearchPage",
    "SendFrame",
    "SendMessage",
    "ServerFrameAckFrame",
    "ServerFrameAckFrameType",
    "ServerFrameErrorFrame",
    "ServerFrameErrorFrameType",
    "ServerFrameJoinedFrame",
    "ServerFrameJoinedFrameType",
    "ServerFrameMembershipFrame",
    "ServerFrameMembershipFrameType",
    "ServerFrameMessageDeletedFrame",
    "ServerFrameMessageDeletedFrameType",
    "ServerFrameMessageFrame",
    "ServerFrameMessageFrameType",
    "ServerFrameMessageUpdatedFrame",
    "ServerFrameMessageUpdatedFrameType",
    "ServerFramePongFrame",
    "ServerFramePongFrameType",
    "ServerFramePresenceFrame",
    "ServerFramePresenceFrameType",
    "ServerFrameReactionFrame",
    "ServerFrameReactionFrameType",
    "ServerFrameReadEventFrame",
    "ServerFrameReadEventFrameType",
    "ServerFrameTypingFrame",
    "ServerFrameTypingFrameType",
    "Status",
    "TokenPair",
    "TypingClientFrame",
    "TypingFrame",
    "User",
    "UserPage",
    "UserRef",
    "UserSummary",
    "Visibility",
    "WebMarker",
    "WebSession",
    "WsTicket",
)
